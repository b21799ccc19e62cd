import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface LocalRedis {
  url: string;
  /** Stops the server when this process started it; a no-op for a Redis that was already there. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Starts a private `redis-server` (noeviction, nothing persisted) on a free port under `dir`. */
export async function startRedisServer(
  dir: string,
  port?: number,
): Promise<LocalRedis & { port: number; pid: number }> {
  const check = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (check.error) {
    throw new Error(
      'no Redis answers at REDIS_URL and `redis-server` is not installed: install Redis 6.2+ or set REDIS_URL',
    );
  }
  mkdirSync(dir, { recursive: true });
  const p = port ?? (await freePort());
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(p),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${p}`;
  for (let i = 0; i < 100; i++) {
    if (await pingRedis(url, 200)) {
      return {
        url,
        port: p,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${p}`);
}

/** Uses the Redis at `url` when it answers, else starts a private one. */
export async function ensureRedis(url: string, dir: string): Promise<LocalRedis & { started: boolean }> {
  if (await pingRedis(url)) return { url, started: false, stop: async () => {} };
  const local = await startRedisServer(dir);
  return { ...local, started: true };
}
