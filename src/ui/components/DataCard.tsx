// The training text: a drop zone (or file picker), the files' sizes and token counts (counted by
// the engine as they load), the windows of the last run, and the held-out text.
import { useState, type DragEvent } from 'react';
import { useStudio } from '../store';
import { addDataFiles } from '../controller';
import { fmtBytes, fmtCount } from '../lib/format';

export function DataCard() {
  const dataFiles = useStudio((s) => s.dataFiles);
  const dataset = useStudio((s) => s.dataset);
  const count = useStudio((s) => s.dataCount);
  const heldout = useStudio((s) => s.heldoutFiles);
  const evalEvery = useStudio((s) => s.settings.evalEvery);
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void addDataFiles([...e.dataTransfer.files]);
  };
  const bytes = dataFiles.reduce((a, f) => a + f.bytes, 0);
  return (
    <section className="card" data-testid="data-card">
      <h2>Dataset</h2>
      <label
        className={`drop ${over ? 'over' : ''}`}
        data-testid="drop-zone"
        onDragOver={(e) => { e.preventDefault(); setOver(true); }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        Drop .txt, .md or .jsonl files (or .gz of them) here, or click to choose
        <input type="file" multiple accept=".txt,.md,.jsonl,.gz" data-testid="file-input" onChange={(e) => void addDataFiles([...(e.target.files ?? [])])} />
      </label>
      <ul className="files" data-testid="data-files">
        {dataFiles.map((f) => <li key={f.name} data-bytes={f.bytes}>{f.name} <span className="muted">{fmtBytes(f.bytes)}</span></li>)}
      </ul>
      {count ? (
        <p className="small" data-testid="dataset-count" data-tokens={count.tokens} data-documents={count.documents}>
          {count.documents} document{count.documents === 1 ? '' : 's'} · {fmtCount(count.tokens)} tokens
        </p>
      ) : (
        dataFiles.length > 0 && <p className="small muted" data-testid="dataset-pending">{fmtBytes(bytes)} of text; counting tokens…</p>
      )}
      {dataset && (
        <p className="small" data-testid="dataset-summary" data-tokens={dataset.tokens}>
          last run: {dataset.documents} document{dataset.documents === 1 ? '' : 's'} · {fmtCount(dataset.tokens)} tokens · {dataset.windows} windows of {dataset.ctx}
        </p>
      )}
      {heldout.length > 0 && (
        <p className="small muted" data-testid="heldout-files">
          held-out: {heldout.map((f) => `${f.name} (${fmtBytes(f.bytes)})`).join(', ')}{evalEvery > 0 ? `, evaluated every ${evalEvery} steps` : ', not evaluated'}
        </p>
      )}
    </section>
  );
}
