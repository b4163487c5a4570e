// A small segmented control (one of a few options).
interface Props<T extends string> {
  label: string;
  value: T;
  options: { value: T; label: string }[];
  onChange(v: T): void;
  testId: string;
}

export function Toggle<T extends string>({ label, value, options, onChange, testId }: Props<T>) {
  return (
    <span className="toggle" role="group" aria-label={label} data-testid={testId} data-export="skip">
      {options.map((o) => (
        <button key={o.value} type="button" aria-pressed={o.value === value} data-testid={`${testId}-${o.value}`} onClick={() => onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </span>
  );
}
