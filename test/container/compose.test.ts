/**
 * compose.yaml, checked as data: no container engine runs here, so `docker compose up` is never
 * tried, but the structure it relies on is. Services and their healthchecks, the service built from
 * the Dockerfile and started only once its dependencies are healthy, a grace period longer than the
 * shutdown's, every variable one the service reads, secrets from .env rather than in the file, and
 * interpolation Compose can parse.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AppEnv, PlaidEnv, QuotaEnv } from '../../src/config.js';
import { SimulatorEnv } from '../../src/simulator/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(`${ROOT}compose.yaml`, 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  env_file?: { path: string; required?: boolean }[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

const compose = parse(text) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const service = services.service as Service;
const variables = new Set([
  ...Object.keys(AppEnv.shape),
  ...Object.keys(PlaidEnv.shape),
  ...Object.keys(QuotaEnv.shape),
  ...Object.keys(SimulatorEnv.shape),
]);

const seconds = (duration: string | undefined) => {
  const match = /^(\d+)(s|m)$/.exec(duration ?? '');
  if (!match) throw new Error(`not a duration: ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

describe('compose.yaml', () => {
  it('has PostgreSQL, Redis, the simulator and the service, each with a healthcheck', () => {
    expect(Object.keys(services).sort()).toEqual(['postgres', 'redis', 'service', 'simulator']);
    for (const [name, s] of Object.entries(services)) {
      expect(s.healthcheck?.test[0], name).toMatch(/^CMD(-SHELL)?$/);
      expect(s.healthcheck?.test.length, name).toBeGreaterThan(1);
    }
    expect(services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(services.redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('builds the service (and the simulator) from the Dockerfile; their checks use node, since the slim image has no curl', () => {
    for (const name of ['service', 'simulator']) {
      const s = services[name] as Service;
      expect(s.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(s.healthcheck?.test.slice(0, 2)).toEqual(['CMD', 'node']);
    }
    expect(service.healthcheck?.test.join(' ')).toContain('/health');
    expect(services.simulator?.command).toEqual(['node', 'dist/simulator/main.js']);
  });

  it('starts the service once PostgreSQL, Redis and the simulator are healthy', () => {
    expect(service.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      simulator: { condition: 'service_healthy' },
    });
  });

  it('gives the service 40 s to stop, more than SHUTDOWN_DRAIN_MS + SHUTDOWN_TIMEOUT_MS', () => {
    expect(service.stop_grace_period).toBe('40s');
    const drain = AppEnv.shape.SHUTDOWN_DRAIN_MS.parse(undefined) + AppEnv.shape.SHUTDOWN_TIMEOUT_MS.parse(undefined);
    expect(seconds(service.stop_grace_period) * 1000).toBeGreaterThan(drain);
  });

  it('runs the service in production mode against the stack, with variables the service reads', () => {
    const env = service.environment ?? {};
    expect(Object.keys(env).filter((name) => !variables.has(name))).toEqual([]);
    expect(env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0', REDIS_URL: 'redis://redis:6379' });
    expect(new URL(env.DATABASE_URL?.replace(/\$\{[^}]*\}/g, 'x') ?? '').host).toBe('postgres:5432');
    expect(env.PLAID_BASE_URL).toContain('http://simulator:4010');
    expect(Object.keys(services.simulator?.environment ?? {}).filter((name) => !variables.has(name))).toEqual([]);
    // Optional .env for everything else; without one, `docker compose` still parses the file.
    expect(service.env_file).toEqual([{ path: '.env', required: false }]);
  });

  it('takes the secrets from .env, required, and holds none itself', () => {
    const env = service.environment ?? {};
    expect(env.AUTH_JWT_SECRET).toMatch(/^\$\{AUTH_JWT_SECRET:\?[^}]+\}$/);
    expect(env.TOKEN_ENCRYPTION_KEY).toMatch(/^\$\{TOKEN_ENCRYPTION_KEY:\?[^}]+\}$/);
  });

  it('publishes ports on loopback only, and keeps state on named volumes', () => {
    for (const s of Object.values(services)) for (const port of s.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
    const named = Object.keys(compose.volumes ?? {});
    for (const s of Object.values(services)) for (const volume of s.volumes ?? []) expect(named).toContain(volume.split(':')[0]);
    expect(service.volumes).toContain('service-state:/var/lib/plaid-refresh');
    expect(service.environment?.LINK_SPOOL_DIR).toMatch(/^\/var\/lib\/plaid-refresh\//);
  });

  it('uses only interpolation Compose parses: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, or $$', () => {
    const dollars = [...text.replaceAll('$$', '').matchAll(/\$(\{[^}]*\}|.)/g)].map((m) => m[0]);
    expect(dollars.filter((d) => !/^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$/.test(d))).toEqual([]);
  });
});
