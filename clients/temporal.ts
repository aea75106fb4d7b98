/**
 * Temporal connections built from config, shared by the worker and the API (lib/ stays free of
 * Temporal imports, so this lives here). One place decides TLS and API-key handling. Client-only:
 * the API imports it, and must not load the worker's native bridge.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { Config } from '../lib/config/index.js';

export type TemporalConfig = Config['temporal'];

/**
 * TLS settings: the configured files for mTLS, or plain TLS when an API key is set (Temporal
 * Cloud refuses API keys over plaintext), or none for a local dev server.
 */
export function tlsOptions(cfg: TemporalConfig): TLSConfig | boolean | undefined {
  if (!cfg.tls.enabled) return cfg.apiKey ? true : undefined;
  const tls: TLSConfig = {};
  if (cfg.tls.serverName) tls.serverNameOverride = cfg.tls.serverName;
  if (cfg.tls.caPath) tls.serverRootCACertificate = readFileSync(cfg.tls.caPath);
  if (cfg.tls.certPath || cfg.tls.keyPath) {
    if (!cfg.tls.certPath || !cfg.tls.keyPath)
      throw new Error('temporal.tls: certPath and keyPath must be set together');
    tls.clientCertPair = { crt: readFileSync(cfg.tls.certPath), key: readFileSync(cfg.tls.keyPath) };
  }
  return tls;
}

/**
 * A client for the API and schedules. `lazy` connects on first use, so the API starts (and
 * answers /healthz with 503) while Temporal is down instead of refusing to start.
 */
export async function createTemporalClient(cfg: TemporalConfig, opts: { lazy?: boolean } = {}): Promise<Client> {
  const options = { address: cfg.address, tls: tlsOptions(cfg), apiKey: cfg.apiKey, connectTimeout: '5 seconds' };
  const connection = opts.lazy ? Connection.lazy(options) : await Connection.connect(options);
  return new Client({ connection, namespace: cfg.namespace });
}

/**
 * True when the frontend answers for our namespace within `timeoutMs` (DescribeNamespace: cheap,
 * and it also catches a missing namespace, which a bare gRPC health check would not).
 */
export async function temporalHealthy(client: Client, timeoutMs = 2_000): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, async () => {
      await client.connection.ensureConnected();
      await client.workflowService.describeNamespace({ namespace: client.options.namespace });
    });
    return true;
  } catch {
    return false;
  }
}
