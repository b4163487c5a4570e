// performance.now(), refreshed every `everyMs` while `live` (for clocks on the page).
import { useEffect, useState } from 'react';

export function useNow(live: boolean, everyMs = 500): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!live) return;
    setNow(performance.now());
    const id = setInterval(() => setNow(performance.now()), everyMs);
    return () => clearInterval(id);
  }, [live, everyMs]);
  return now;
}
