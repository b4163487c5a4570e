// The training text: a drop zone (or file picker), each file with its size, its token count
// (counted by the engine as it loads) and its first characters, removable, with a way back to
// the default data; the windows of the last run; and the held-out text, the default set or a
// file dropped on its own slot.
import { useState, type DragEvent, type ReactNode } from 'react';
import { useStudio, type TextFileInfo } from '../store';
import { addDataFiles, DEFAULT_DATA, DEFAULT_HELDOUT, removeDataFile, restoreDefaultData, restoreDefaultHeldout, setHeldoutFiles } from '../controller';
import { fmtBytes, fmtCount } from '../lib/format';
import { PREVIEW_SHORT } from '../lib/data-preview';

const ACCEPT = '.txt,.md,.jsonl,.gz';

function DropZone({ testId, multiple, onFiles, children }: { testId: string; multiple: boolean; onFiles: (files: File[]) => Promise<void>; children: ReactNode }) {
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void onFiles([...e.dataTransfer.files]);
  };
  return (
    <label className={`drop ${over ? 'over' : ''}`} data-testid={testId} onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)} onDrop={onDrop}>
      {children}
      <input type="file" multiple={multiple} accept={ACCEPT} data-testid={testId === 'drop-zone' ? 'file-input' : `${testId}-input`}
        onChange={(e) => { void onFiles([...(e.target.files ?? [])]); e.target.value = ''; }} />
    </label>
  );
}

/** One file: name, size, tokens, a remove button where it can go, and its first characters (expandable). */
function FileEntry({ file, onRemove }: { file: TextFileInfo; onRemove: (() => void) | null }) {
  const [more, setMore] = useState(false);
  const long = file.preview.length > PREVIEW_SHORT;
  return (
    <li data-name={file.name} data-bytes={file.bytes} data-tokens={file.tokens ?? ''} data-documents={file.documents ?? ''}>
      <div className="file-row">
        <span className="file-name">{file.name}</span>
        <span className="muted small" data-testid="file-tokens">
          {fmtBytes(file.bytes)} · {file.tokens === undefined ? 'counting tokens…' : `${fmtCount(file.tokens)} tokens`}
          {file.documents !== undefined && file.documents > 1 ? ` in ${file.documents} documents` : ''}
        </span>
        {onRemove && <button type="button" className="mini" data-testid="remove-file" aria-label={`remove ${file.name}`} title={`remove ${file.name}`} onClick={onRemove}>×</button>}
      </div>
      <div className="preview small" data-testid="file-preview" data-expanded={more}>
        {more ? file.preview : file.preview.slice(0, PREVIEW_SHORT)}{long && !more ? '…' : ''}
      </div>
      {long && <button type="button" className="mini" data-testid="preview-more" onClick={() => setMore(!more)}>{more ? 'show less' : 'show more'}</button>}
    </li>
  );
}

const names = (list: { name: string }[]) => list.map((d) => d.name).join(', ');

function HeldOut() {
  const files = useStudio((s) => s.heldoutFiles);
  const isDefault = useStudio((s) => s.heldoutDefault);
  const evalEvery = useStudio((s) => s.settings.evalEvery);
  return (
    <>
      <h3>Held-out text</h3>
      <p className="small" data-testid="heldout-files" data-default={isDefault}>
        {isDefault ? <>The default held-out set ({names(DEFAULT_HELDOUT)})</> : <>Your held-out file{files.length === 1 ? '' : 's'} ({names(files)})</>}
        {files.length === 0 ? ' is loading.' : evalEvery > 0 ? `, evaluated every ${evalEvery} steps.` : ', not evaluated (held-out every 0 steps).'}
      </p>
      <ul className="files" data-testid="heldout-list">
        {files.map((f) => <FileEntry key={f.name} file={f} onRemove={isDefault ? null : () => void restoreDefaultHeldout()} />)}
      </ul>
      <DropZone testId="heldout-drop-zone" multiple={false} onFiles={setHeldoutFiles}>Drop a held-out file here to measure perplexity on your own text</DropZone>
      {!isDefault && <button type="button" className="mini" data-testid="use-default-heldout" onClick={() => void restoreDefaultHeldout()}>use the default held-out set</button>}
    </>
  );
}

export function DataCard() {
  const dataFiles = useStudio((s) => s.dataFiles);
  const isDefault = useStudio((s) => s.dataDefault);
  const dataset = useStudio((s) => s.dataset);
  const count = useStudio((s) => s.dataCount);
  const bytes = dataFiles.reduce((a, f) => a + f.bytes, 0);
  return (
    <section className="card" data-testid="data-card">
      <h2>Dataset</h2>
      <DropZone testId="drop-zone" multiple onFiles={addDataFiles}>Drop .txt, .md or .jsonl files (or .gz of them) here, or click to choose</DropZone>
      <p className="small muted" data-testid="data-source" data-default={isDefault}>
        {isDefault ? 'The default data; files dropped here replace it.' : 'Your files; files dropped here join them.'}
      </p>
      <ul className="files" data-testid="data-files">
        {dataFiles.map((f) => <FileEntry key={f.name} file={f} onRemove={isDefault ? null : () => void removeDataFile(f.name)} />)}
      </ul>
      {!isDefault && <button type="button" className="mini" data-testid="use-default-data" onClick={() => void restoreDefaultData()}>use the default data ({names(DEFAULT_DATA)})</button>}
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
      <HeldOut />
    </section>
  );
}
