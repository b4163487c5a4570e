"""Loss curves of fine-tunes from `lemo train` logs (its stderr), one line per run, as a PNG.
Usage: python3 bench/quality/plot_loss.py OUT.png LABEL=LOG [LABEL=LOG ...]"""
import re, sys
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

out, runs = sys.argv[1], sys.argv[2:]
fig, ax = plt.subplots(figsize=(7, 4))
for run in runs:
    label, path = run.split('=', 1)
    steps, losses = [], []
    for line in open(path):
        m = re.match(r'step (\d+)/\d+\s+loss ([0-9.]+)', line)
        if m:
            steps.append(int(m.group(1)))
            losses.append(float(m.group(2)))
    ax.plot(steps, losses, label=label, linewidth=1.5)
ax.set_xlabel('step')
ax.set_ylabel('training loss (nats per token)')
ax.set_title('LoRA fine-tune at 4096 tokens, default model and data, seed 0\n'
             '(each run\'s own forward: lemo\'s leaves blocks out, so its training loss sits higher)', fontsize=9)
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(out, dpi=120)
print(out)
