// After a run: the trained adapter in PEFT's format, or the base model with the adapter merged
// in, each as one .zip made in the engine worker (nothing is uploaded; the browser saves it).
import { useState } from 'react';
import { useStudio } from '../store';
import { exportZip } from '../controller';
import { saveBlob } from '../lib/download';
import { fmtBytes } from '../lib/format';

type Kind = 'adapter' | 'merged';

export function ExportCard() {
  const run = useStudio((s) => s.run);
  const trained = useStudio((s) => s.steps.length > 0);
  const set = useStudio((s) => s.set);
  const [busy, setBusy] = useState<Kind | null>(null);
  const [saved, setSaved] = useState<{ name: string; bytes: number; files: { name: string; bytes: number }[] } | null>(null);
  if (!trained || !(run === 'finished' || run === 'stopped')) return null;
  const download = async (kind: Kind) => {
    setBusy(kind);
    try {
      const r = await exportZip(kind);
      saveBlob(new Blob([r.zip], { type: 'application/zip' }), r.name);
      setSaved({ name: r.name, bytes: r.zip.byteLength, files: r.files });
    } catch (e) {
      set({ error: (e as Error).message });
    } finally {
      setBusy(null);
    }
  };
  return (
    <section className="card" data-testid="export-card">
      <h2>Export</h2>
      <div className="buttons">
        <button data-testid="export-adapter" disabled={busy !== null} onClick={() => void download('adapter')}>
          {busy === 'adapter' ? 'Zipping…' : 'Download adapter (.zip)'}
        </button>
        <button data-testid="export-merged" disabled={busy !== null} onClick={() => void download('merged')}>
          {busy === 'merged' ? 'Merging…' : 'Download merged model (.zip)'}
        </button>
      </div>
      <p className="small muted">The adapter loads with PEFT (PeftModel.from_pretrained); the merged model with transformers alone.</p>
      {saved && (
        <p className="small" data-testid="export-saved" data-bytes={saved.bytes}>
          {saved.name} ({fmtBytes(saved.bytes)}): {saved.files.map((f) => f.name).join(', ')}
        </p>
      )}
    </section>
  );
}
