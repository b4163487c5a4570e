// lemo generate: continues a prompt with the model (and an adapter), streaming the text to stdout.
import { num, openSession } from './session';
import { readAdapterDir } from './files';
import { UserError } from '../engine/node';

export interface GenerateOptions {
  model: string;
  adapter?: string;
  prompt: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  ropeScale?: string;
  threads: string;
  backend: string;
}

export async function generateCommand(o: GenerateOptions): Promise<void> {
  const plan = { maxTokens: num(o.maxTokens, 'max-tokens')!, temperature: num(o.temperature, 'temperature')!, topP: num(o.topP, 'top-p')!, seed: num(o.seed, 'seed')! };
  if (!(Number.isInteger(plan.maxTokens) && plan.maxTokens >= 1)) throw new UserError(`--max-tokens must be a whole number of at least 1, got ${o.maxTokens}.`);
  if (!(plan.temperature >= 0)) throw new UserError(`--temperature must be 0 (greedy) or more, got ${o.temperature}.`);
  if (!(plan.topP > 0 && plan.topP <= 1)) throw new UserError(`--top-p must be in (0, 1], got ${o.topP}.`);
  const { session } = await openSession(o.model, o, { ropeScale: num(o.ropeScale, 'rope-scale') });
  const adapter = o.adapter ? readAdapterDir(o.adapter) : undefined;
  process.stdout.write(o.prompt);
  let shown = '';
  const started = Date.now();
  const text = await session.generate(o.prompt, plan, (sofar) => {
    // Decoding the whole continuation each time keeps characters that span tokens whole.
    if (sofar.startsWith(shown) && !sofar.endsWith('\uFFFD')) {
      process.stdout.write(sofar.slice(shown.length));
      shown = sofar;
    }
  }, adapter);
  process.stdout.write(`${text.slice(shown.length)}\n`);
  process.stderr.write(`generated in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
