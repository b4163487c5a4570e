// A labelled setting with a one-line hint, and the sentence refusing its value when it has one.
import type { ReactNode } from 'react';
import type { SettingsIssue } from '../lib/run-settings';

export function Field(props: { label: string; hint: string; children: ReactNode; issue?: SettingsIssue | null; fields?: string[]; group?: boolean }) {
  const problem = props.issue && props.fields?.includes(props.issue.field) ? props.issue : null;
  const Tag = props.group ? 'div' : 'label';
  return (
    <Tag className={`field${problem ? ' invalid' : ''}`}>
      <span>{props.label}</span>
      {props.children}
      {problem && <small className="field-error" role="alert" data-testid="settings-problem" data-field={problem.field}>{problem.message}</small>}
      <small className="muted">{props.hint}</small>
    </Tag>
  );
}
