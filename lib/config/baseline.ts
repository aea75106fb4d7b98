import { z } from 'zod';

/** Phase defaults for the baseline phase (owned by its issue; seed values as defaults). */
export const baselineConfigSchema = z.object({}).prefault({});
export type BaselineConfig = z.infer<typeof baselineConfigSchema>;
