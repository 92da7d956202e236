#!/usr/bin/env python3
"""Mutation fuzzing of the spec pipeline: random edits to every model file, each run through `danlu check`.
Any exit status other than 0 (valid) or 1 (a diagnostic) is a crash, and the input is saved as /tmp/crashN.yaml.

Usage (after `swift build`): python3 Tests/Fuzz/mutate_specs.py [SEED] [RUNS]
"""
import random, subprocess, glob, sys
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
models = [open(p).read() for p in sorted(glob.glob('Models/*.yaml')) + sorted(glob.glob('Tests/Fixtures/goldens/*/model.yaml'))]
tokens = ['0', '-1', '99999999999', '(', ')', ',', '.', '=', ':', ' ', '\n', '[', ']', "'", '//', '*', 'if', 'else', 'x', 'input', 'N', '2.5', '1e400', '-', '%', 'repeat(3, relu)', 'f32', 'f32[', '&a', '*a']
crashes = 0
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 200):
    text = list(random.choice(models))
    for _ in range(random.randint(1, 4)):
        pos = random.randrange(len(text))
        r = random.random()
        if r < 0.4: text[pos:pos+1] = list(random.choice(tokens))
        elif r < 0.7: del text[pos:pos + random.randint(1, 8)]
        else: text[pos:pos] = list(random.choice(tokens))
    src = ''.join(text)
    open('/tmp/fz.yaml', 'w').write(src)
    p = subprocess.run(['.build/debug/danlu', 'check', '/tmp/fz.yaml', '--dim', 'H=32', '--dim', 'W=32'] if 'H,' in src or 'H]' in src else ['.build/debug/danlu', 'check', '/tmp/fz.yaml'], capture_output=True, text=True, timeout=60)
    if p.returncode not in (0, 1):
        crashes += 1
        open(f'/tmp/crash{crashes}.yaml', 'w').write(src)
        print('CRASH', p.returncode, (p.stderr.splitlines() or [''])[0][:200])
print('runs done, crashes:', crashes)
