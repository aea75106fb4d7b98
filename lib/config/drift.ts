import { z } from 'zod';

/** Phase defaults for the drift phase (owned by its issue; seed values as defaults). */
export const driftConfigSchema = z.object({}).prefault({});
export type DriftConfig = z.infer<typeof driftConfigSchema>;
