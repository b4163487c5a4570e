import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useStudio } from '../store';

export function LossChart() {
  const steps = useStudio((s) => s.steps);
  return (
    <section className="card chart" data-testid="loss-chart">
      <header>
        <h2>Training loss</h2>
        <span className="muted">{steps.length ? `last ${steps[steps.length - 1].loss.toFixed(4)}` : 'no steps yet'}</span>
      </header>
      <div className="plot">
        <ResponsiveContainer width="100%" height={260}>
          <LineChart data={steps} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
            <XAxis dataKey="step" type="number" domain={[1, 'dataMax']} allowDecimals={false} />
            <YAxis domain={['auto', 'auto']} width={56} tickFormatter={(v: number) => v.toFixed(2)} />
            <Tooltip formatter={(v) => Number(v).toFixed(4)} labelFormatter={(l) => `step ${l}`} />
            <Line type="linear" dataKey="loss" stroke="#2563eb" dot={steps.length < 40} isAnimationActive={false} />
          </LineChart>
        </ResponsiveContainer>
      </div>
      <ol className="sr-only" data-testid="loss-values">
        {steps.map((s) => <li key={s.step}>{s.loss}</li>)}
      </ol>
    </section>
  );
}
