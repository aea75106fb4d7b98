/**
 * The sandbox contract shared by the `local` and `e2b` providers (one contract test suite runs
 * against both). Commands are given as argv and shell-quoted by the provider, so a branch name,
 * path or commit message can never inject a command.
 */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** working directory inside the sandbox (relative to its home, or absolute inside it) */
  cwd?: string;
  /** extra environment for this command only (credentials go here, never into argv) */
  envs?: Record<string, string>;
  /**
   * Deadline in ms (> 0); past it the command and every process it started are killed and
   * run() throws DomainError(Timeout). Default: the provider's commandTimeoutMs.
   */
  timeoutMs?: number;
  /** text fed to the command's standard input */
  stdin?: string;
  /**
   * Cap per stream (stdout, stderr) in bytes; past it the command and everything it started are
   * killed and run() throws DomainError(OutputTooLarge) with `details.stream`. Default: the
   * provider's `maxOutputBytes` (config limits.commandOutputMaxBytes).
   */
  maxOutputBytes?: number;
}

/** Default output cap per stream when neither the call nor the provider sets one. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface CreateSandboxOptions {
  /** searchable labels (agentId, taskId, approach, pool) — no secrets */
  metadata?: Record<string, string>;
  /** environment for every command in the sandbox */
  envs?: Record<string, string>;
  /** lifetime in ms (> 0); the provider kills the sandbox when it runs out */
  timeoutMs?: number;
}

export interface SandboxInfo {
  id: string;
  metadata: Record<string, string>;
  startedAt: Date;
  endAt: Date;
  /** resources the provider bills for, when it reports them (E2B does) */
  cpuCount?: number;
  memoryMB?: number;
}

/** The resources a sandbox is billed for. */
export interface SandboxSize {
  cpuCount?: number;
  memoryMB?: number;
}

export interface Sandbox {
  readonly id: string;
  readonly provider: 'local' | 'e2b';
  /** absolute path of the sandbox's home directory (workspaces live below it) */
  readonly home: string;
  readonly metadata: Record<string, string>;
  readonly startedAt: Date;
  /** runs argv (quoted by the provider); a non-zero exit is returned, not thrown */
  run(argv: string[], opts?: RunOptions): Promise<CommandResult>;
  /** path relative to home or absolute inside it; parent directories are created */
  writeFile(path: string, content: string): Promise<void>;
  /** with `maxBytes`, a larger file is refused (OutputTooLarge) instead of read whole */
  readFile(path: string, opts?: { maxBytes?: number }): Promise<string>;
  /**
   * Resets the lifetime to `ms` from now and returns the end the provider actually set: a plan's
   * maximum lifetime (E2B: start + 1 h on Hobby) can make it earlier than asked.
   */
  setTimeout(ms: number): Promise<Date>;
  /** ends the sandbox; a command running meanwhile returns (killed), it does not throw */
  kill(): Promise<void>;
  /** a cheap end-to-end probe: the sandbox answers a trivial command */
  isHealthy(): Promise<boolean>;
}

export interface SandboxProvider {
  readonly name: 'local' | 'e2b';
  create(opts?: CreateSandboxOptions): Promise<Sandbox>;
  /** reconnects by id (after a restart too); throws DomainError(SandboxGone) when it no longer exists */
  connect(id: string): Promise<Sandbox>;
  list(filter?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]>;
  /** number of sandboxes running now (for gitops_sandboxes_running) */
  running(): Promise<number>;
  /** one sandbox's info without connecting to it; throws DomainError(SandboxGone) when it no longer exists */
  info(id: string): Promise<SandboxInfo>;
  /**
   * Kills a sandbox by id without connecting to it (so nothing is resumed or extended first).
   * Returns false when it did not exist.
   */
  kill(id: string): Promise<boolean>;
  /** the plan's maximum lifetime counted from a sandbox's start (undefined: none) */
  readonly maxLifetimeMs?: number;
  /** USD per second for one sandbox of `size` (default: the provider's usual size) */
  costPerSecond(size?: SandboxSize): number;
}
