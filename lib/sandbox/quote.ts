/**
 * POSIX shell quoting for argv sent to a sandbox. Providers run commands through a shell
 * (`/bin/sh -c` locally, E2B's `commands.run(cmd)` remotely), so every argument is wrapped in
 * single quotes — inside them the shell interprets nothing, so `$(…)`, backticks, `;`, `|`,
 * newlines and globs stay literal. A single quote itself is written as `'\''` (close, escaped
 * quote, reopen). Every argument is quoted, even "safe" ones: a bare `FOO=bar` or `if` as the
 * first word would otherwise be an assignment or a keyword.
 */
import { DomainError, ErrorType } from '../errors.js';

/** Rejects argv the shell cannot carry faithfully: empty argv, non-strings, NUL bytes. */
export function assertValidArgv(argv: readonly unknown[]): asserts argv is string[] {
  if (!Array.isArray(argv) || argv.length === 0) {
    throw new DomainError(ErrorType.Validation, 'argv must be a non-empty array', { details: { field: 'argv' } });
  }
  argv.forEach((a, i) => {
    if (typeof a !== 'string') {
      throw new DomainError(ErrorType.Validation, `argv[${i}] must be a string`, {
        details: { field: 'argv', index: i },
      });
    }
    // a C string ends at NUL: the shell would silently truncate the argument
    if (a.includes('\0')) {
      throw new DomainError(ErrorType.Validation, `argv[${i}] contains a NUL byte`, {
        details: { field: 'argv', index: i },
      });
    }
  });
  if (argv[0] === '') {
    throw new DomainError(ErrorType.Validation, 'argv[0] (the command) must not be empty', {
      details: { field: 'argv', index: 0 },
    });
  }
}

/** One argument as a single-quoted POSIX shell word. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) {
    throw new DomainError(ErrorType.Validation, 'argument contains a NUL byte', { details: { field: 'argv' } });
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv as one shell command line; validated first. */
export function shellJoin(argv: readonly string[]): string {
  assertValidArgv(argv);
  return argv.map(shellQuote).join(' ');
}
