// The run page's left column: what is trained, on what, and how.
import { ModelCard } from './ModelCard';
import { DataCard } from './DataCard';
import { SettingsCard } from './SettingsCard';
import { ForecastCard } from './ForecastCard';
import { ExportCard } from './ExportCard';

export function Sidebar() {
  return (
    <aside className="sidebar">
      <ModelCard />
      <DataCard />
      <SettingsCard />
      <ForecastCard />
      <ExportCard />
    </aside>
  );
}
