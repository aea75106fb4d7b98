import { z } from 'zod';

/** Phase defaults for the canary phase (owned by its issue; seed values as defaults). */
export const canaryConfigSchema = z.object({}).prefault({});
export type CanaryConfig = z.infer<typeof canaryConfigSchema>;
