// The frame every chart shares: title, a one-line summary, optional controls, PNG/CSV export.
import { useRef, type ReactNode } from 'react';
import { ChartExport } from './ChartExport';

interface Props {
  title: string;
  /** data-testid of the card; also the exported files' name. */
  id: string;
  summary?: ReactNode;
  controls?: ReactNode;
  csv: (() => string) | null;
  className?: string;
  children: ReactNode;
}

export function ChartCard({ title, id, summary, controls, csv, className, children }: Props) {
  const ref = useRef<HTMLElement>(null);
  return (
    <section className={`card chart ${className ?? ''}`} data-testid={id} ref={ref}>
      <header>
        <h2>{title}</h2>
        <span className="tools">
          {controls}
          <ChartExport target={ref} file={id} csv={csv} />
        </span>
      </header>
      <div className="summary muted" data-testid={`${id}-summary`}>{summary}</div>
      {children}
    </section>
  );
}
