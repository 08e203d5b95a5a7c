/** Test helpers: the whole service in process (embedded mode), typed operations over yoga.fetch. */
import { randomBytes } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { loadConfig } from '../../src/config.js';
import { signViewerToken } from '../../src/demo/seed.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { memoryLogger, type LogLine } from './logs.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!';

export type { LogLine } from './logs.js';

/** The whole service in process; its log lines (debug level and up) are collected in `logs`. */
export async function startTestService(env: Record<string, string> = {}): Promise<{ runtime: Runtime; logs: LogLine[] }> {
  const { logger, lines: logs } = memoryLogger({ secrets: [TEST_JWT_SECRET] });
  // Identity and cashflow limits are raised so suites can refresh one Item many times, and the
  // per-viewer and link limits so one test viewer can do what many would; the transactions limit
  // stays Plaid's (2 per Item per minute), which the tests rely on.
  const quotas: Record<string, string> = {
    QUOTA_IDENTITY_PER_ITEM: '1000',
    QUOTA_CASHFLOW_PER_ITEM: '1000',
    QUOTA_USER_PER_USER: '1000',
    QUOTA_PER_VIEWER: '10000',
    LINK_PER_VIEWER_PER_HOUR: '10000',
    LINK_PER_CLIENT_PER_MINUTE: '10000',
    LINK_TOKEN_PER_VIEWER_PER_HOUR: '10000',
    LINK_TOKEN_PER_CLIENT_PER_MINUTE: '10000',
  };
  // With REDIS_URL (CI), each service gets its own key space, as a separate deployment would.
  quotas.REDIS_KEY_PREFIX = `test:${randomBytes(6).toString('hex')}:`;
  const runtime = await createRuntime(loadConfig({ NODE_ENV: 'test', AUTH_JWT_SECRET: TEST_JWT_SECRET, ...quotas, ...env }), { logger });
  return { runtime, logs };
}

export const tokenFor = (viewerId: string, options: { expiresIn?: string } = {}) => signViewerToken(TEST_JWT_SECRET, viewerId, options);

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  /** The raw body, for scanning what the client saw. */
  text: string;
}

/** Runs an operation through yoga.fetch, as a client over HTTP would, typed by the codegen document. */
export async function execute<TData, TVars>(
  runtime: Runtime,
  document: TypedDocumentNode<TData, TVars>,
  variables: TVars,
  token: string | null,
): Promise<GraphQLResponse<TData>> {
  const response = await runtime.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const text = await response.text();
  return { status: response.status, text, ...(JSON.parse(text) as Omit<GraphQLResponse<TData>, 'status' | 'text'>) };
}
