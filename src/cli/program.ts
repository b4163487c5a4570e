// `lemo`'s commands and options; their defaults are the settings module's.
import { Command, Option } from 'commander';
import { ATTENTION_MODES, BENCH_DEFAULTS, CALIBRATE_DEFAULTS, DEFAULT_SETTINGS, GENERATE_DEFAULTS, GRAD_DEFAULTS, OFFLOAD_MODES, POLICY_TUNE_DEFAULTS, PREDICTOR_DEFAULTS, SPARSITY_MODES } from '../engine/node';
import { gradCommand } from './grad';
import { trainCommand } from './train';
import { evalCommand } from './evaluate';
import { DEFAULT_MODEL_DIR } from './session';
import { benchCommand } from './bench';
import { exportCommand } from './export';
import { predictorsEvalCommand, predictorsTrainCommand } from './predictors';
import { policyCalibrateCommand, policyTuneCommand } from './policy';
import { generateCommand } from './generate';

const threads = () => new Option('--threads <n>', 'CPU threads for onnxruntime').default('1');
const memoryBudget = () => new Option('--memory-budget <GiB>', 'memory the model may take; a model predicted (from its header) to need more is refused before loading, and a training step whose saved activations (--batch × --ctx tokens) would not fit beside it is refused before it runs (default: this machine\'s memory)');
const backend = () => new Option('--backend <name>', 'node: onnxruntime-node (native CPU); wasm: onnxruntime-web, as in the browser').choices(['node', 'wasm']).default('node');

/** Options of the commands that eliminate tokens (grad, bench). */
function sparsityOptions(c: Command): void {
  c.option('--block <n>', 'tokens per block (without --policy, the model\'s policy.json\'s when it has one)', String(D.block))
    .option('--policy <json|file>', 'per layer: null (dense), a keep ratio, or {"threshold": x}, or a policy file; default: policy.json in the model folder, else the paper artifact\'s')
    .option('--mlp-keep <x>', 'MLP channel sparsity in every layer of a sparse run: share of channels the backward keeps (e.g. 0.2; 1: all); default: the model policy.json\'s')
    .option('--predictors <file>', 'pattern predictors for the lemo mode (default: predictors.safetensors in the model folder)')
    .addOption(new Option('--attention <mode>', 'full; s2: LongLoRA\'s shifted sparse attention while training (tokens attend within groups of --group tokens, half of the heads shifted by half a group); evaluation stays full').choices([...ATTENTION_MODES]))
    .option('--group <n>', 'tokens per shifted sparse attention group: even, dividing the context (default: a quarter of the context)')
    .hook('preAction', blockGiven);
}

/** Whether --block was typed (the model's policy.json brings its own block otherwise). */
function blockGiven(_: Command, cmd: Command): void {
  cmd.setOptionValue('blockGiven', cmd.getOptionValueSource('block') === 'cli');
}

const D = DEFAULT_SETTINGS;
const P = PREDICTOR_DEFAULTS;
const T = POLICY_TUNE_DEFAULTS;
const G = GENERATE_DEFAULTS;
/** --sparsity; `lemo grad` computes dense gradients unless asked (a parity tool), `lemo train` starts in the run default. */
const modeOption = (mode: string = D.sparsity) => new Option('--sparsity <mode>', 'dense; oracle (block scores from q·kᵀ); lemo (block scores from the predictors)').choices([...SPARSITY_MODES]).default(mode);

export const program = new Command('lemo')
  .description('LeMo Studio engine on the command line: gradients, training, evaluation, benchmarks.')
  .showHelpAfterError()
  // An unknown option or a missing argument is a refusal like any other: status 2 (help and --version: 0).
  // Set before the commands are added, which inherit it.
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));

program
  .command('grad')
  .description('Loss and the gradient of every LoRA tensor, under PEFT names, for a batch of token ids.')
  .requiredOption('--model <dir>', 'Hugging Face model folder (config.json, model.safetensors)')
  .option('--adapter <dir>', 'PEFT adapter folder (adapter_config.json, adapter_model.safetensors)')
  .requiredOption('--tokens <file>', 'JSON file {"input_ids": [[...], ...]}')
  .requiredOption('--out <file>', 'where to write the gradients (.safetensors)')
  .option('--lora-r <n>', 'rank of a fresh LoRA (without --adapter)', String(D.loraR))
  .option('--lora-alpha <n>', 'lora_alpha of a fresh LoRA', String(D.loraAlpha))
  .option('--target-modules <list>', 'comma-separated target_modules of a fresh LoRA (default: the attention projections)')
  .option('--seed <n>', 'seed for a fresh LoRA\'s A', String(D.seed))
  .option('--keep <file>', 'force the kept blocks per layer: {"block": b, "layers": [[block indices] or null, ...]}')
  .addOption(modeOption(GRAD_DEFAULTS.sparsity))
  .addOption(threads())
  .addOption(backend())
  .action(gradCommand);
sparsityOptions(program.commands.at(-1)!);


program
  .command('train')
  .description('LoRA fine-tune on a dataset, dense or token-eliminating (--sparsity) (.txt, .md, or .jsonl with a "text" field); writes a PEFT adapter.')
  .option('--model <dir>', 'Hugging Face model folder (default: the studio\'s default model)')
  .option('--data <file>', 'dataset file (default: the studio\'s default training set, or the resumed run\'s)')
  .option('--ctx <n>', `tokens per training window (default: ${D.ctx}, or the resumed run's)`)
  .option('--steps <n>', `optimizer steps (default: ${D.steps}, or the resumed run's; with --resume, a new total)`)
  .option('--checkpoint-dir <dir>', 'write a checkpoint (adapter, optimizer state, data position, loss history) to this folder')
  .option('--checkpoint-every <n>', `steps between checkpoints (default ${DEFAULT_SETTINGS.checkpointEvery}; with --resume, the run's)`)
  .option('--resume <dir>', 'continue the run whose checkpoint folder this is (its settings, data and model), checkpointing there')
  .requiredOption('--out <dir>', 'folder for adapter_config.json and adapter_model.safetensors')
  .option('--lr <x>', 'AdamW learning rate (the peak, under a schedule)', String(D.lr))
  .addOption(new Option('--schedule <kind>', 'the learning rate over the run: constant, or cosine down to 0 (transformers\' schedulers)').choices(['constant', 'cosine']).default(D.schedule))
  .option('--warmup <n>', 'steps of linear warm-up from 0 before the schedule', String(D.warmup))
  .option('--weight-decay <x>', 'AdamW\'s decoupled weight decay of the LoRA factors', String(D.weightDecay))
  .option('--batch <n>', 'windows per step', String(D.batch))
  .option('--lora-r <n>', 'LoRA rank', String(D.loraR))
  .option('--lora-alpha <n>', 'LoRA alpha', String(D.loraAlpha))
  .option('--target-modules <list>', 'comma-separated target_modules (default: the attention projections)')
  .option('--rope-scale <s>', 'linear RoPE position scaling factor for longer contexts')
  .option('--merged-out <dir>', 'also write the merged model (base + adapter) as a Hugging Face folder here')
  .addOption(memoryBudget())
  .option('--seed <n>', 'seed for LoRA init and data order', String(D.seed))
  .addOption(threads())
  .addOption(backend())
  .addOption(modeOption())
  .option('--recall-every <n>', 'lemo: measure the predictors\' recall against the oracle every n steps (0: never)', String(D.recallEvery))
  .addOption(new Option('--offload <where>', `where saved activations wait for their backward: none, host (host memory), disk (files in a temporary folder under TMPDIR, removed at the end); same losses and gradients (default: ${D.offload}, or the resumed run's)`).choices([...OFFLOAD_MODES]))
  .action((o, cmd: Command) => trainCommand(o, { modeDefaulted: cmd.getOptionValueSource('sparsity') === 'default', given: (k) => cmd.getOptionValueSource(k) === 'cli' }));
sparsityOptions(program.commands.at(-1)!);

program
  .command('eval')
  .description('Perplexity over a dataset file, each document chunked at --ctx tokens.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--adapter <dir>', 'PEFT adapter folder')
  .requiredOption('--data <file>', 'dataset file')
  .requiredOption('--ctx <n>', 'tokens per chunk')
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .option('--dump-ids <file>', 'write the evaluated chunks\' token ids and the loss as JSON (for tools/peft-roundtrip)')
  .addOption(memoryBudget())
  .addOption(threads())
  .addOption(backend())
  .action(evalCommand);

program
  .command('generate')
  .description('Continues a prompt with the model (and an adapter), a token at a time with a KV cache, streaming the text to stdout.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--adapter <dir>', 'PEFT adapter folder (default: the base model alone)')
  .requiredOption('--prompt <text>', 'text to continue')
  .option('--max-tokens <n>', 'tokens to add at most (fewer when the model ends the text)', String(G.maxTokens))
  .option('--temperature <t>', '0: greedy (the most likely token each time); else sampling at this temperature', String(G.temperature))
  .option('--top-p <p>', 'nucleus sampling: draw from the most likely tokens holding this share of the probability', String(G.topP))
  .option('--seed <n>', 'seed of the sampling', String(G.seed))
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .addOption(threads())
  .addOption(backend())
  .action(generateCommand);

program
  .command('export')
  .description('Fold a PEFT adapter into its base model and write the merged model as a Hugging Face folder (config.json, model.safetensors, tokenizer files).')
  .requiredOption('--adapter <dir>', 'PEFT adapter folder (adapter_config.json, adapter_model.safetensors)')
  .requiredOption('--out <dir>', 'folder for the merged model')
  .option('--model <dir>', 'the base model\'s Hugging Face folder', DEFAULT_MODEL_DIR)
  .option('--rope-scale <s>', 'linear RoPE scale the adapter was trained with, written into config.json')
  .action(exportCommand);

program
  .command('bench')
  .description('Dense against token elimination on the same windows: peak memory, saved activations, step time, loss, kept share per layer.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--data <file>', 'dataset file (default: the studio\'s default training set)')
  .requiredOption('--ctx <list>', 'comma-separated context lengths, e.g. 1024,2048,4096,8192')
  .option('--steps <n>', 'optimizer steps per (mode, ctx)', String(BENCH_DEFAULTS.steps))
  .option('--modes <list>', 'comma-separated: dense, oracle, lemo', BENCH_DEFAULTS.modes.join(','))
  .option('--json', 'one JSON line per (mode, ctx) on stdout')
  .option('--seed <n>', 'seed', String(BENCH_DEFAULTS.seed))
  .option('--lr <x>', 'AdamW learning rate', String(D.lr))
  .option('--lora-r <n>', 'LoRA rank', String(D.loraR))
  .option('--lora-alpha <n>', 'LoRA alpha', String(D.loraAlpha))
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .addOption(new Option('--offload <where>', 'run each mode again with saved activations offloaded (host memory, or files in a temporary folder), and print the step-time ratio').choices(['host', 'disk']))
  .addOption(threads())
  .addOption(backend())
  .action(benchCommand);
sparsityOptions(program.commands.at(-1)!);

const predictors = program.command('predictors').description('Pattern predictors for the lemo mode (README.md, "Pattern predictors").');
predictors
  .command('train')
  .description('Train per-layer predictors on the frozen base model against the oracle\'s block scores; writes a predictors file.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--data <file>', 'training documents (default: the studio\'s default training set)')
  .option('--heldout <file>', 'held-out documents for recall (default: heldout.jsonl beside --data)')
  .requiredOption('--ctx <n>', 'tokens per window')
  .requiredOption('--steps <n>', 'training windows (one AdamW step per layer each)')
  .requiredOption('--out <file>', 'predictors file to write (.safetensors)')
  .option('--block <n>', 'tokens per block (without --policy, the model\'s policy.json\'s when it has one)', String(P.block))
  .addOption(new Option('--arch <shape>', 'pool: per-token MLP, max over the block; flat: the block flattened per head slice (README.md, "Pattern predictors")').choices(['pool', 'flat']).default(P.arch))
  .addOption(new Option('--objective <what>', 'SmoothL1 between standardised block scores, or between tile maps').choices(['scores', 'tiles']).default(P.objective))
  .option('--init <file>', 'continue training these predictors')
  .option('--r1 <n>', 'first hidden width (default: scaled to the model)')
  .option('--r2 <n>', 'second hidden width')
  .option('--embed <n>', 'block embedding width')
  .option('--lr <x>', 'AdamW learning rate', String(P.lr))
  .option('--prune <x>', 'elastic size: share of hidden units removed, the most often zero', String(P.prune))
  .option('--prune-at <n>', 'step after which to prune (default: half the steps)')
  .option('--eval-every <n>', 'measure recall on held-out windows every n steps (0: at the end only)', String(P.evalEvery))
  .option('--eval-windows <n>', 'held-out windows per recall measurement', String(P.evalWindows))
  .option('--policy <json|file>', 'the keep policy recall is measured under (default: policy.json in the model folder, else the paper artifact\'s)')
  .option('--layers <list>', 'comma-separated layers to train (default: all)')
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .option('--seed <n>', 'seed', String(P.seed))
  .addOption(threads())
  .addOption(backend())
  .hook('preAction', blockGiven)
  .action(predictorsTrainCommand);
predictors
  .command('eval')
  .description('Recall per layer of a predictors file on held-out windows: the share of the oracle\'s kept blocks the predictors keep.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--predictors <file>', 'predictors file (default: predictors.safetensors in the model folder)')
  .option('--heldout <file>', 'held-out documents (default: the default dataset\'s)')
  .requiredOption('--ctx <n>', 'tokens per window')
  .option('--windows <n>', 'held-out windows', String(P.recallWindows))
  .option('--policy <json|file>', 'the keep policy recall is measured under (default: policy.json in the model folder, else the paper artifact\'s)')
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .addOption(threads())
  .addOption(backend())
  .action(predictorsEvalCommand);

const policy = program.command('policy').description('Keep policies: which blocks each layer keeps (README.md, "Token elimination (LeMo)").');
policy
  .command('tune')
  .description('Per-layer elimination thresholds (the paper\'s Algorithm 1): on calibration windows of the frozen model, each layer in turn raises its threshold while the loss stays within the bound; writes a policy file (policy.json in a model folder is then its default policy).')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--adapter <dir>', 'PEFT adapter folder to calibrate with (default: the base model alone)')
  .option('--data <file>', 'calibration documents (default: the studio\'s default training set)')
  .requiredOption('--ctx <n>', 'tokens per calibration window')
  .option('--rope-scale <s>', 'linear RoPE position scaling factor')
  .option('--windows <n>', 'calibration windows, spread over the dataset', String(T.windows))
  .option('--bound <x>', 'loss each tuned layer may add, as a share of the dense loss', String(T.bound))
  .option('--total-bound <x>', 'also cap the loss over all layers at dense × (1 + x) (default: none, so at most dense × (1 + layers × bound))')
  .option('--step <x>', 'threshold factor increment (the factor multiplies the layer\'s mean block score)', String(T.step))
  .option('--max <x>', 'largest threshold factor tried', String(T.max))
  .option('--layers <list>', 'comma-separated layers to tune, in order (default: all but the first and last)')
  .option('--block <n>', 'tokens per block', String(D.block))
  .option('--policy <json|file>', 'policy of the layers not tuned (default: dense)')
  .requiredOption('--out <file>', 'policy file to write (policy.json in a model folder makes it the model\'s default)')
  .addOption(threads())
  .addOption(backend())
  .action(policyTuneCommand);
policy
  .command('calibrate')
  .description('Calibrates a threshold policy to the predictors: per threshold layer, the largest factor on the predictors\' block scores whose kept blocks hold the given share (recall) of those the oracle keeps under the layer\'s threshold, on calibration windows; writes the policy file with each layer\'s "predicted" factor, which the lemo mode uses.')
  .option('--model <dir>', 'Hugging Face model folder', DEFAULT_MODEL_DIR)
  .option('--predictors <file>', 'predictors file (default: predictors.safetensors in the model folder)')
  .option('--policy <file>', 'policy file to calibrate (default: policy.json in the model folder)')
  .option('--data <file>', 'calibration documents (default: the studio\'s default training set)')
  .option('--ctx <n>', 'tokens per calibration window (default: the policy file\'s context)')
  .option('--windows <n>', 'calibration windows, spread over the dataset', String(CALIBRATE_DEFAULTS.windows))
  .option('--recall <x>', 'share of the oracle\'s kept blocks the predictors must keep, on average', String(CALIBRATE_DEFAULTS.recall))
  .requiredOption('--out <file>', 'policy file to write (policy.json in a model folder makes it the model\'s default)')
  .addOption(threads())
  .addOption(backend())
  .action(policyCalibrateCommand);
