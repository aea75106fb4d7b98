-- error_category "client" (the caller's own bad request, lib/errors.ts) was added to the code but
-- not to operation_log's CHECK: every row of a client error was refused and lost (the log write
-- only warns), so e.g. a failed create's first failure was never found and its recovery never
-- measured. The CHECK now allows it.
ALTER TABLE operation_log DROP CONSTRAINT operation_log_error_category_check;
ALTER TABLE operation_log ADD CONSTRAINT operation_log_error_category_check
  CHECK (error_category IN ('none', 'network', 'timeout', 'conflict', 'auth', 'rate_limit', 'client', 'other'));
