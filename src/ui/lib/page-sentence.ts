// The engine's sentences name the `lemo` command's flags; the page has fields instead. This turns
// a flag in parentheses into nothing (the sentence names the setting already) and a flag in the
// text into the field's name, so no message on the page names a flag it does not have.

const FIELDS: Record<string, string> = {
  '--rope-scale': 'the RoPE scale',
  '--ctx': 'the context length',
  '--batch': 'the batch',
  '--steps': 'the steps',
  '--block': 'the block',
  '--group': 'the group',
  '--lr': 'the learning rate',
  '--warmup': 'the warm-up',
  '--weight-decay': 'the weight decay',
  '--mlp-keep': 'the MLP channels kept',
  '--lora-r': 'LoRA r',
  '--lora-alpha': 'LoRA alpha',
  '--target-modules': 'the LoRA target modules',
  '--recall-every': 'recall every',
  '--checkpoint-every': 'checkpoint every',
};

export function pageSentence(message: string): string {
  return message
    .replace(/ \(--[a-z][a-z-]*(?: [^()]*)?\)/g, '')
    .replace(/(?<![\w-])--[a-z][a-z-]*/g, (flag) => FIELDS[flag] ?? flag.slice(2).replace(/-/g, ' '));
}
