import { useEffect } from 'react';
import { useStudio } from './store';
import { boot } from './controller';
import { Sidebar } from './components/Sidebar';
import { Progress } from './components/Progress';
import { LossChart } from './components/LossChart';
import { MemoryChart } from './components/MemoryChart';
import { SparsityBars } from './components/SparsityBars';
import { SparsityHeatmap } from './components/SparsityHeatmap';
import { RunsCard } from './components/RunsCard';
import { ResumeBanner, RunNotices } from './components/ResumeBanner';
import { TryCard } from './components/TryCard';
import { GRAD_NORM_SERIES, LR_SERIES, StepSeriesChart } from './components/StepSeriesChart';
import { pageSentence } from './lib/page-sentence';

export function App() {
  const error = useStudio((s) => s.error);
  const set = useStudio((s) => s.set);
  useEffect(() => {
    void boot();
  }, []);
  return (
    <div className="app">
      <header className="top">
        <h1>LeMo Studio</h1>
        <span className="muted">long-context LoRA fine-tuning with contextual token sparsity, entirely in this tab</span>
      </header>
      {error && (
        <div className="error" role="alert" data-testid="error">
          {pageSentence(error)}
          <button onClick={() => set({ error: null })} aria-label="dismiss">×</button>
        </div>
      )}
      <ResumeBanner />
      <RunNotices />
      <div className="layout">
        <Sidebar />
        <main className="dashboards">
          <Progress />
          <RunsCard />
          <LossChart />
          <SparsityBars />
          <StepSeriesChart series={LR_SERIES} />
          <StepSeriesChart series={GRAD_NORM_SERIES} />
          <MemoryChart />
          <SparsityHeatmap />
          <TryCard />
        </main>
      </div>
    </div>
  );
}
