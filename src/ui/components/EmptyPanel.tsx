// What a chart says instead of empty axes.
import type { ReactNode } from 'react';

export function EmptyPanel({ children, testId }: { children: ReactNode; testId?: string }) {
  return <div className="empty" data-testid={testId}>{children}</div>;
}
