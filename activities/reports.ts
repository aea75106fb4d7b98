import type { Queryable } from '../lib/store/queryable.js';
import { createReportRepository, type ReportInput } from '../lib/store/reports.js';

/**
 * Report activities shared by every phase. `writeReport` is idempotent (upsert by report id and
 * atomic file writes), so Temporal may retry it freely.
 */
export function createReportActivities(deps: { db: Queryable; reportsDir: string }) {
  const reports = createReportRepository(deps.db);
  return {
    async writeReport(input: ReportInput): Promise<{ id: string }> {
      const doc = await reports.save(deps.reportsDir, input);
      return { id: doc.id };
    },
  };
}
