/** The standalone simulator's settings (`npm run simulator`), its own: it shares nothing with the service, as Plaid would not. */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const SimulatorEnv = z.object({
  SIMULATOR_HOST: z.string().default('127.0.0.1'),
  SIMULATOR_PORT: int(0, 65_535).default(4010),
  SIMULATOR_LATENCY_MS: int(0, 600_000).default(0),
  SIMULATOR_CONTROL_API: z.enum(['true', 'false']).default('true'),
  // Webhooks: Plaid's timing by default (1 s after the call; retries 30 s, ×4 each, up to 24 h).
  SIMULATOR_WEBHOOK_DELAY_MS: int(0, 600_000).default(1_000),
  SIMULATOR_WEBHOOK_RETRY_SCALE: z.coerce.number().min(0).max(1).default(1),
});

export interface SimulatorConfig {
  readonly host: string;
  readonly port: number;
  readonly latencyMs: number;
  readonly controlApi: boolean;
  readonly webhookDelayMs: number;
  readonly webhookRetryScale: number;
}

/** The settings, or the problems, one per line, each naming its variable. */
export function loadSimulatorConfig(env: NodeJS.ProcessEnv = process.env): SimulatorConfig | { readonly problems: readonly string[] } {
  const parsed = SimulatorEnv.safeParse(env);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) };
  const e = parsed.data;
  return {
    host: e.SIMULATOR_HOST,
    port: e.SIMULATOR_PORT,
    latencyMs: e.SIMULATOR_LATENCY_MS,
    controlApi: e.SIMULATOR_CONTROL_API === 'true',
    webhookDelayMs: e.SIMULATOR_WEBHOOK_DELAY_MS,
    webhookRetryScale: e.SIMULATOR_WEBHOOK_RETRY_SCALE,
  };
}
