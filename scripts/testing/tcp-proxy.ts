import net from 'node:net';

/**
 * A TCP proxy a test or benchmark controls, to make network partitions on demand. `forward`
 * pipes bytes both ways; `drop` makes the path a black hole: every open connection stops
 * carrying bytes in both directions and new connections are accepted but never reach the
 * upstream — no RST, no FIN, exactly what a silent partition (a dead switch, a dropped route,
 * a firewall DROP rule) looks like to the client. Going back to `forward` lets new connections
 * through; connections black-holed during the drop stay dead (their byte streams are cut), as
 * they would after a real partition.
 */
export interface TcpProxy {
  /** 127.0.0.1:<port> clients connect to */
  host: string;
  port: number;
  mode(): 'forward' | 'drop';
  drop(): void;
  forward(): void;
  /** connections seen so far */
  connections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  let mode: 'forward' | 'drop' = 'forward';
  let seen = 0;
  const pairs = new Set<{ client: net.Socket; server: net.Socket | null; dead: boolean }>();
  const server = net.createServer((client) => {
    seen++;
    const pair: { client: net.Socket; server: net.Socket | null; dead: boolean } = {
      client,
      server: null,
      dead: mode === 'drop',
    };
    pairs.add(pair);
    const cleanup = (): void => {
      pairs.delete(pair);
      client.destroy();
      pair.server?.destroy();
    };
    client.on('error', cleanup);
    client.on('close', cleanup);
    if (pair.dead) {
      // accepted, then silence: read and discard whatever the client sends
      client.on('data', () => undefined);
      return;
    }
    const up = net.connect(upstream.port, upstream.host);
    pair.server = up;
    up.on('error', cleanup);
    up.on('close', () => {
      if (!pair.dead) cleanup();
    });
    client.on('data', (b) => {
      if (!pair.dead) up.write(b);
    });
    up.on('data', (b) => {
      if (!pair.dead) client.write(b);
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    mode: () => mode,
    drop: () => {
      mode = 'drop';
      for (const p of pairs) p.dead = true;
    },
    forward: () => {
      mode = 'forward';
    },
    connections: () => seen,
    close: async () => {
      for (const p of pairs) {
        p.client.destroy();
        p.server?.destroy();
      }
      pairs.clear();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** The same Postgres URL, through the proxy. */
export function viaProxy(url: string, proxy: Pick<TcpProxy, 'host' | 'port'>): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString();
}
