// `lemo`: the engine headless. Each subcommand reads files, calls the engine, prints JSON.
import { Command, Option } from 'commander';
import { UserError } from '../engine/errors';
import { gradCommand } from './grad';

const program = new Command('lemo')
  .description('LeMo Studio engine on the command line: gradients, training, evaluation, benchmarks.')
  .showHelpAfterError();

program
  .command('grad')
  .description('Loss and the gradient of every LoRA tensor, under PEFT names, for a batch of token ids.')
  .requiredOption('--model <dir>', 'Hugging Face model folder (config.json, model.safetensors)')
  .option('--adapter <dir>', 'PEFT adapter folder (adapter_config.json, adapter_model.safetensors)')
  .requiredOption('--tokens <file>', 'JSON file {"input_ids": [[...], ...]}')
  .requiredOption('--out <file>', 'where to write the gradients (.safetensors)')
  .option('--lora-r <n>', 'rank of a fresh LoRA (without --adapter)', '8')
  .option('--lora-alpha <n>', 'lora_alpha of a fresh LoRA', '16')
  .option('--target-modules <list>', 'comma-separated target_modules of a fresh LoRA (default: the attention projections)')
  .option('--seed <n>', 'seed for a fresh LoRA\'s A', '0')
  .addOption(new Option('--threads <n>', 'WASM threads').default('1'))
  .action(gradCommand);

program.parseAsync().catch((e: unknown) => {
  if (e instanceof UserError) {
    process.stderr.write(`lemo: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`lemo: internal error: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
