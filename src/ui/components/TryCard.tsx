// Try the model: a prompt continued by the base model and, once a run has trained an adapter,
// by the model with it, side by side, streamed as the worker generates (greedy or top-p).
import { useEffect, useRef, useState } from 'react';
import { useStudio } from '../store';
import { generateText, onGenerated, stopGenerating } from '../controller';
import { GENERATE_DEFAULTS } from '../../engine/settings';

type Side = 'base' | 'adapter';

export function TryCard() {
  const run = useStudio((s) => s.run);
  const trained = useStudio((s) => s.steps.length > 0);
  const set = useStudio((s) => s.set);
  const [prompt, setPrompt] = useState('It was a dark and stormy night');
  const [maxTokens, setMaxTokens] = useState(GENERATE_DEFAULTS.maxTokens);
  const [greedy, setGreedy] = useState(false);
  const [text, setText] = useState<Record<Side, string | null>>({ base: null, adapter: null });
  const [tokens, setTokens] = useState<Record<Side, number | null>>({ base: null, adapter: null });
  const [busy, setBusy] = useState<Side | null>(null);
  const stopped = useRef(false);
  useEffect(() => onGenerated((side, t) => setText((cur) => ({ ...cur, [side]: t }))), []);
  const running = run === 'running' || run === 'paused' || run === 'loading';
  const adapterReady = trained && (run === 'finished' || run === 'stopped');
  const go = async () => {
    const sides: Side[] = adapterReady ? ['base', 'adapter'] : ['base'];
    setText({ base: null, adapter: null });
    setTokens({ base: null, adapter: null });
    stopped.current = false;
    try {
      for (const side of sides) {
        if (stopped.current) break;
        setBusy(side);
        const plan = { maxTokens, temperature: greedy ? 0 : GENERATE_DEFAULTS.temperature, topP: GENERATE_DEFAULTS.topP, seed: GENERATE_DEFAULTS.seed };
        const done = await generateText({ prompt, side, ...plan });
        setText((cur) => ({ ...cur, [side]: done.text }));
        setTokens((cur) => ({ ...cur, [side]: done.tokens }));
      }
    } catch (e) {
      set({ error: (e as Error).message });
    } finally {
      setBusy(null);
    }
  };
  const column = (side: Side, title: string) => (
    <div className="try-column">
      <h3>{title}</h3>
      <p className="try-text" data-testid={`generated-${side}`} data-tokens={tokens[side] ?? ''}>
        <span className="muted">{prompt}</span>
        {text[side] ?? ''}
      </p>
      {tokens[side] !== null && <small className="muted">{tokens[side]} tokens</small>}
    </div>
  );
  return (
    <section className="card wide" data-testid="try-card">
      <header>
        <h2>Try the model</h2>
        <span className="muted">{adapterReady ? 'the base model and the model with the adapter just trained' : 'the base model; after a run, also with its adapter'}</span>
      </header>
      <textarea data-testid="prompt" rows={2} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      <div className="buttons">
        <label>
          tokens <input data-testid="max-tokens" type="number" min={1} max={1024} value={maxTokens} onChange={(e) => setMaxTokens(Math.max(1, Math.min(1024, Number(e.target.value) || 1)))} />
        </label>
        <label>
          <input data-testid="greedy" type="checkbox" checked={greedy} onChange={(e) => setGreedy(e.target.checked)} /> greedy (else top-p {GENERATE_DEFAULTS.topP} at temperature {GENERATE_DEFAULTS.temperature})
        </label>
        <button data-testid="generate" disabled={busy !== null || running || prompt.trim() === ''} onClick={() => void go()}>Generate</button>
        <button data-testid="stop-generate" disabled={busy === null} onClick={() => { stopped.current = true; stopGenerating(); }}>Stop</button>
        {running && <span className="muted">(while a run trains, the engine is busy)</span>}
      </div>
      <div className="try-columns">
        {column('base', 'base model')}
        {adapterReady && column('adapter', 'with the adapter')}
      </div>
    </section>
  );
}
