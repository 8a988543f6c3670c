"""Tuning material for small faces under shake, low light and infrared (issue 30).

Short videos drawn from the conditions that leak most on random sets: faces of
12-48 px, camera shake (which smears every face with motion blur), night
footage, turned heads.  Used while tuning; changes are then judged on random
seeds that were not looked at (BENCHMARKS.md).

    python make_bench.py --spec /path/to/tune_small.py --out out/tune_small
"""
import numpy as np

SEED_OFFSET = 70000
_PEOPLE = ['alex_lacamoire', 'angelina_jolie', 'biden', 'guido_van_rossum', 'kit_harington',
           'lin_manuel_miranda', 'obama', 'paul_allen', 'rose_leslie', 'shea_whigham',
           'steve_wozniak']
_CONDS = [['shake'], ['shake', 'lowlight'], ['shake', 'ir'], ['shake', 'noise'],
          ['lowlight', 'noise'], ['ir'], ['shake', 'occluder'], ['shake', 'lowlight', 'noise'],
          ['shake'], ['shake', 'ir', 'noise']]

SPECS = []
for i, conds in enumerate(_CONDS):
    r = np.random.RandomState([i, 4711])
    pool = list(r.permutation(_PEOPLE))
    people = []
    for j in range(4):
        lo = float(np.exp(r.uniform(np.log(12), np.log(40))))
        p = dict(person=pool[j], role='victim', h=(int(lo), int(lo * r.uniform(1.2, 2.0))))
        if r.rand() < 0.4:
            p['tilt'] = int(r.uniform(20, 180))
        if r.rand() < 0.3:
            p['fast'] = True
        people.append(p)
    SPECS.append(dict(name='tune%02d_%s_720p' % (i, '-'.join(conds)), bg=['plaza', 'crowd', 'traffic'][i % 3],
                      bg_start=int(r.randint(0, 300)), size=(1280, 720), fps=25, dur=5, cond=conds,
                      mirror=bool(i % 2), people=people))
