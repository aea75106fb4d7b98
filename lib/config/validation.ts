import { z } from 'zod';

/** Phase defaults for the validation phase (owned by its issue; seed values as defaults). */
export const validationConfigSchema = z.object({}).prefault({});
export type ValidationConfig = z.infer<typeof validationConfigSchema>;
