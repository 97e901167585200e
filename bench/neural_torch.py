"""PyTorch reference for `npm run bench:neural`: the same architectures as kotoba's neural models,
trained on the same data with the same sizes, minibatch and BPTT length, timed the same way.

    /usr/bin/python3 bench/neural_torch.py --model lstm --train ptb.train.txt --valid ptb.valid.txt \
        --hidden 200 --layers 2 --batch 20 --bptt 35 --steps 30

Prints one JSON line: tokens/s for training (forward, backward, clipping, SGD) and for scoring
(forward only), over `--steps` steps after `--warmup` untimed ones. With --max-time S it trains
for S seconds and reports validation perplexity instead (PyTorch's own way: the state carried
across sentences, so the number is not comparable with kotoba's per-sentence perplexity).

The class-factorised softmax (rnn, ffnn) has no PyTorch module, so it is written here the way
a PyTorch user would: sort the rows by class, one matmul per class present in the batch.
The log-linear model is a sum of nn.Embedding rows (dense V×V per history position, sparse
gradients), which is what kotoba's hashed table computes too (a row lookup per position).
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_corpus(path, vocab=None, starts=True):
    """Lines → ids: <unk>=0, <s>=1, </s>=2, words by first appearance (kotoba's order).

    With starts=False (the recurrent models, PyTorch's usual stream) there is no <s>: a stream
    of words and </s>, so that no near-certain <s> after </s> is counted in the perplexity."""
    grow = vocab is None
    if grow:
        vocab = {'<unk>': 0, '<s>': 1, '</s>': 2}
    ids = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if starts:
                ids.append(1)
            for w in line.replace('\t', ' ').split(' '):
                w = w.strip('\n\r')
                if not w:
                    continue
                if w not in vocab:
                    if grow:
                        vocab[w] = len(vocab)
                    else:
                        w = '<unk>'
                ids.append(vocab[w])
            ids.append(2)
    return torch.tensor(ids, dtype=torch.long), vocab


def frequency_classes(ids, V, C):
    """Mikolov's frequency binning, as kotoba's outputOrder: class of each word, class sizes."""
    counts = torch.bincount(ids, minlength=V).double()
    words = [w for w in range(V) if w != 1]
    words.sort(key=lambda w: (-counts[w].item(), w))
    total = sum(counts[w].item() for w in words)
    cls = torch.zeros(V, dtype=torch.long)
    local = torch.zeros(V, dtype=torch.long)
    starts = [0]
    c, cum = 0, 0.0
    for j, w in enumerate(words):
        cls[w] = c
        local[w] = j - starts[-1]
        cum += counts[w].item() / total
        if cum > (c + 1) / C and c < C - 1 and j < len(words) - 1:
            c += 1
            starts.append(j + 1)
    starts.append(len(words))
    sizes = [starts[i + 1] - starts[i] for i in range(len(starts) - 1)]
    return cls, local, sizes, words


class ClassSoftmax(nn.Module):
    """p(w|h) = p(c(w)|h) p(w|c(w),h); word weights stored per class block."""

    def __init__(self, D, cls, local, sizes):
        super().__init__()
        self.cls, self.local, self.sizes = cls, local, sizes
        self.class_layer = nn.Linear(D, len(sizes))
        self.blocks = nn.ModuleList([nn.Linear(D, s) for s in sizes])

    def forward(self, h, targets):
        c = self.cls[targets]
        loss = F.cross_entropy(self.class_layer(h), c, reduction='sum')
        order = torch.argsort(c)
        cs, hs, ls = c[order], h[order], self.local[targets][order]
        present, counts = torch.unique_consecutive(cs, return_counts=True)
        start = 0
        for k, n in zip(present.tolist(), counts.tolist()):
            loss = loss + F.cross_entropy(self.blocks[k](hs[start:start + n]), ls[start:start + n], reduction='sum')
            start += n
        return loss


class FullSoftmax(nn.Module):
    def __init__(self, D, V):
        super().__init__()
        self.linear = nn.Linear(D, V)

    def forward(self, h, targets):
        return F.cross_entropy(self.linear(h), targets, reduction='sum')


class Recurrent(nn.Module):
    def __init__(self, kind, V, E, H, L, out, activation='tanh', dropout=0.0):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        if kind == 'rnn':
            self.rnn = nn.RNN(E, H, L, nonlinearity=activation, dropout=dropout)
        elif kind == 'gru':
            self.rnn = nn.GRU(E, H, L, dropout=dropout)
        else:
            self.rnn = nn.LSTM(E, H, L, dropout=dropout)
        self.drop = nn.Dropout(dropout)
        self.out = out
        self.kind = kind

    def forward(self, x, y, state):
        o, state = self.rnn(self.drop(self.emb(x)), state)
        o = self.drop(o)
        return self.out(o.reshape(-1, o.shape[-1]), y.reshape(-1)), state

    def zero_state(self, B):
        L, H = self.rnn.num_layers, self.rnn.hidden_size
        if self.kind != 'lstm':
            return torch.zeros(L, B, H)
        return (torch.zeros(L, B, H), torch.zeros(L, B, H))


class PositionalEncoding(nn.Module):
    """PyTorch's word_language_model: sinusoids added to the input, then dropout."""

    def __init__(self, d, dropout, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x):
        return self.dropout(x + self.pe[:x.size(0), :])


class Transformer(nn.Module):
    """PyTorch's word_language_model TransformerModel: post-norm nn.TransformerEncoder, causal mask."""

    def __init__(self, V, D, heads, F, L, dropout, out, activation='relu'):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = PositionalEncoding(D, dropout)
        layer = nn.TransformerEncoderLayer(D, heads, F, dropout, activation=activation)
        self.encoder = nn.TransformerEncoder(layer, L)
        self.D = D
        self.out = out
        self.masks = {}

    def forward(self, x, y, state=None):
        T = x.shape[0]
        if T not in self.masks:
            self.masks[T] = torch.triu(torch.full((T, T), float('-inf')), diagonal=1)
        h = self.encoder(self.pos(self.emb(x) * math.sqrt(self.D)), self.masks[T])
        return self.out(h.reshape(-1, h.shape[-1]), y.reshape(-1)), None

    def zero_state(self, B):
        return None


class FeedForward(nn.Module):
    def __init__(self, V, n, E, H, out):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.hidden = nn.Linear(n * E, H)
        self.out = out

    def forward(self, ctx, y):
        x = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.out(torch.tanh(self.hidden(x)), y)


class LogLinear(nn.Module):
    def __init__(self, V, n):
        super().__init__()
        self.rows = nn.ModuleList([nn.Embedding(V, V, sparse=True) for _ in range(n)])
        for r in self.rows:
            nn.init.zeros_(r.weight)
        self.bias = nn.Parameter(torch.zeros(V))

    def forward(self, ctx, y):
        s = self.bias + sum(self.rows[j](ctx[:, j]) for j in range(len(self.rows)))
        return F.cross_entropy(s, y, reduction='sum')


def batchify(ids, B):
    n = ids.numel() // B
    return ids[: n * B].view(B, n).t().contiguous()  # (n, B)


def windows(ids, n):
    """(context, target) for every token but <s>, context <s>-padded within the sentence."""
    ctx = torch.full((ids.numel(), n), 1, dtype=torch.long)
    for j in range(1, n + 1):
        shifted = torch.full_like(ids, 1)
        shifted[j:] = ids[:-j]
        ctx[:, n - j] = shifted
    # Positions before the sentence's <s> become <s>: propagate the reset.
    for j in range(n - 2, -1, -1):
        ctx[:, j] = torch.where(ctx[:, j + 1] == 1, torch.ones_like(ctx[:, j]), ctx[:, j])
    keep = ids != 1
    return ctx[keep], ids[keep]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True, choices=['loglinear', 'ffnn', 'rnn', 'gru', 'lstm', 'transformer'])
    p.add_argument('--test', help='with --epochs: test perplexity of the best epoch (PyTorch\'s protocol)')
    p.add_argument('--activation', default='tanh', help='rnn: tanh or relu; transformer: relu or gelu')
    p.add_argument('--dropout', type=float, default=0.0)
    p.add_argument('--heads', type=int, default=2)
    p.add_argument('--optimizer', default='sgd', choices=['sgd', 'adamw', 'adagrad'])
    p.add_argument('--weight-decay', type=float, default=0.0)
    p.add_argument('--train', required=True)
    p.add_argument('--valid')
    p.add_argument('--order', type=int, default=3)
    p.add_argument('--embed', type=int, default=0)
    p.add_argument('--hidden', type=int, default=200)
    p.add_argument('--layers', type=int, default=1)
    p.add_argument('--classes', type=int, default=0)
    p.add_argument('--batch', type=int, default=20)
    p.add_argument('--bptt', type=int, default=35)
    p.add_argument('--lr', type=float, default=1.0)
    p.add_argument('--clip', type=float, default=0.25)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--max-time', type=float, default=0)
    p.add_argument('--epochs', type=int, default=0, help='train whole epochs, validating on --valid after each')
    p.add_argument('--profile', action='store_true', help='with --steps: where a training step\'s time goes (torch.profiler, self CPU time per op and shape)')
    p.add_argument('--init', type=float, default=0.1, help='uniform ±init for embeddings and output weights, as kotoba (0: PyTorch defaults)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    recurrent = a.model in ('rnn', 'gru', 'lstm', 'transformer')  # trained on streams cut into windows
    train, vocab = read_corpus(a.train, starts=not recurrent)
    V = len(vocab)
    E = a.embed or a.hidden
    D = E if a.model == 'transformer' else a.hidden  # the output layer's input width
    if a.classes > 0:
        cls, local, sizes, _ = frequency_classes(train, V, a.classes)
        out = ClassSoftmax(D, cls, local, sizes)
    else:
        out = FullSoftmax(D, V)
    if recurrent:
        if a.model == 'transformer':
            model = Transformer(V, E, a.heads, a.hidden, a.layers, a.dropout, out, 'gelu' if a.activation == 'gelu' else 'relu')
        else:
            model = Recurrent(a.model, V, E, a.hidden, a.layers, out, a.activation, a.dropout)
        data = batchify(train, a.batch)
        steps_per_epoch = (data.shape[0] - 1) // a.bptt

        def batch(i):
            i = (i % steps_per_epoch) * a.bptt
            return data[i:i + a.bptt], data[i + 1:i + 1 + a.bptt]
    elif a.model == 'ffnn':
        model = FeedForward(V, a.order - 1, E, a.hidden, out)
        ctx, tgt = windows(train, a.order - 1)
        perm = torch.randperm(tgt.numel())

        def batch(i):
            j = perm[(i * a.batch) % tgt.numel():][:a.batch]
            return ctx[j], tgt[j]
    else:
        model = LogLinear(V, a.order - 1)
        ctx, tgt = windows(train, a.order - 1)
        perm = torch.randperm(tgt.numel())

        def batch(i):
            j = perm[(i * a.batch) % tgt.numel():][:a.batch]
            return ctx[j], tgt[j]

    if a.init > 0 and a.model != 'loglinear':  # (the example's init_weights; the transformer's layers keep PyTorch's own)
        with torch.no_grad():
            model.emb.weight.uniform_(-a.init, a.init)
            for name, q in model.out.named_parameters():
                if name.endswith('weight'):
                    q.uniform_(-a.init, a.init)
                else:
                    q.zero_()
    state = model.zero_state(a.batch) if recurrent else None
    lr = a.lr
    optimizer = None
    if a.optimizer == 'adamw':
        optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    elif a.optimizer == 'adagrad':
        optimizer = torch.optim.Adagrad(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)

    def step(i):
        nonlocal state
        model.train()
        x, y = batch(i)
        model.zero_grad()
        if recurrent:
            if isinstance(state, tuple):
                state = tuple(s.detach() for s in state)
            elif state is not None:
                state = state.detach()
            loss, state = model(x, y, state)
        else:
            loss = model(x, y)
        n = y.numel()
        (loss / n).backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_([q for q in model.parameters() if not (q.grad is not None and q.grad.is_sparse)], a.clip)
        if optimizer is not None:
            optimizer.step()
        else:
            with torch.no_grad():
                for q in model.parameters():
                    if q.grad is not None:
                        if a.weight_decay > 0:
                            q.mul_(1 - lr * a.weight_decay)
                        q.add_(q.grad, alpha=-lr)
        return loss.item(), n

    def evaluate(ids):
        """PyTorch's example: the text as 10 streams, non-overlapping windows, the state carried."""
        model.eval()
        with torch.no_grad():
            if recurrent:
                vd = batchify(ids, 10)
                vs = model.zero_state(10)
                nats = tokens = 0
                for i in range(0, vd.shape[0] - 1, a.bptt):
                    x, y = vd[i:i + a.bptt], vd[i + 1:i + 1 + a.bptt]
                    n = min(x.shape[0], y.shape[0])
                    l, vs = model(x[:n], y[:n], vs)
                    nats += l.item()
                    tokens += y[:n].numel()
            else:
                vc, vt = windows(ids, a.order - 1)
                nats = sum(model(vc[i:i + 1024], vt[i:i + 1024]).item() for i in range(0, vt.numel(), 1024))
                tokens = vt.numel()
        return nats / tokens

    result = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'vocabulary': V, 'model': a.model}
    if a.epochs > 0:
        # Whole epochs with validation after each, PyTorch's example's way: the state carried
        # across sentences, the best epoch kept, lr / 4 after an epoch that does not improve.
        valid, _ = read_corpus(a.valid, vocab, starts=not recurrent)
        per_epoch = steps_per_epoch if recurrent else (tgt.numel() + a.batch - 1) // a.batch
        history = []
        best, best_state = None, None
        t0 = time.perf_counter()
        tokens_trained = 0
        train_seconds = 0.0
        for e in range(a.epochs):
            if recurrent:
                state = model.zero_state(a.batch)
            e0 = time.perf_counter()
            for i in range(per_epoch):
                tokens_trained += step(e * per_epoch + i)[1]
            train_seconds += time.perf_counter() - e0
            loss = evaluate(valid)
            history.append({'epoch': e + 1, 'valid_perplexity': math.exp(loss), 'lr': lr, 'seconds': time.perf_counter() - t0})
            print(json.dumps(history[-1]), file=sys.stderr)
            if best is None or loss < best:
                best = loss
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            elif optimizer is None:
                lr /= 4.0
        result['history'] = history
        result['train_tokens_per_s'] = tokens_trained / train_seconds
        if a.test:
            model.load_state_dict(best_state)
            test, _ = read_corpus(a.test, vocab, starts=not recurrent)
            result['test_perplexity'] = math.exp(evaluate(test))
    elif a.max_time > 0:
        t0 = time.perf_counter()
        i = 0
        nats = tokens = 0
        while time.perf_counter() - t0 < a.max_time:
            l, n = step(i)
            nats += l
            tokens += n
            i += 1
        result['train_perplexity'] = math.exp(nats / tokens)
        result['steps'] = i
    elif a.profile:
        # Self CPU time per operator and input shapes, per training step: where PyTorch spends it.
        for i in range(a.warmup):
            step(i)
        from torch.profiler import ProfilerActivity, profile
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for i in range(a.warmup, a.warmup + a.steps):
                step(i)
        result['step_us'] = (time.perf_counter() - t0) * 1e6 / a.steps
        ops = []
        for e in prof.key_averages(group_by_input_shape=True):
            ops.append({'op': e.key, 'shapes': str(e.input_shapes), 'self_us': e.self_cpu_time_total / a.steps, 'calls': e.count / a.steps})
        ops.sort(key=lambda o: -o['self_us'])
        result['ops'] = ops[:40]
    else:
        for i in range(a.warmup):
            step(i)
        t0 = time.perf_counter()
        nats = tokens = 0
        for i in range(a.warmup, a.warmup + a.steps):
            l, n = step(i)
            nats += l
            tokens += n
        dt = time.perf_counter() - t0
        result['train_tokens_per_s'] = tokens / dt
        result['train_loss'] = nats / tokens
        # Scoring: forward only, no gradients, no dropout.
        model.eval()
        with torch.no_grad():
            if recurrent:
                state = model.zero_state(a.batch)
            for i in range(2):
                x, y = batch(i)
                model(x, y, state) if recurrent else model(x, y)
            t0 = time.perf_counter()
            tokens = 0
            for i in range(a.steps):
                x, y = batch(i)
                if recurrent:
                    _, state = model(x, y, state)
                else:
                    model(x, y)
                tokens += y.numel()
            result['score_tokens_per_s'] = tokens / (time.perf_counter() - t0)
    print(json.dumps(result))


if __name__ == '__main__':
    sys.exit(main())
