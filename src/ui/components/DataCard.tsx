// The training text: a drop zone (or file picker), the files' sizes and, once the worker has
// tokenized them at Start, their token and window counts.
import { useState, type DragEvent } from 'react';
import { useStudio } from '../store';
import { addDataFiles } from '../controller';
import { fmtBytes, fmtCount } from '../lib/format';

export function DataCard() {
  const dataFiles = useStudio((s) => s.dataFiles);
  const dataset = useStudio((s) => s.dataset);
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
        Drop .txt, .md or .jsonl files here, or click to choose
        <input type="file" multiple accept=".txt,.md,.jsonl" data-testid="file-input" onChange={(e) => void addDataFiles([...(e.target.files ?? [])])} />
      </label>
      <ul className="files" data-testid="data-files">
        {dataFiles.map((f) => <li key={f.name} data-bytes={f.bytes}>{f.name} <span className="muted">{fmtBytes(f.bytes)}</span></li>)}
      </ul>
      {dataset ? (
        <p className="small" data-testid="dataset-summary" data-tokens={dataset.tokens}>
          {dataset.documents} document{dataset.documents === 1 ? '' : 's'} · {fmtCount(dataset.tokens)} tokens · {dataset.windows} windows of {dataset.ctx}
        </p>
      ) : (
        dataFiles.length > 0 && <p className="small muted" data-testid="dataset-pending">{fmtBytes(bytes)} of text; tokens are counted when a run starts.</p>
      )}
    </section>
  );
}
