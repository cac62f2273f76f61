import numpy as np
import answer_data as ad
import train_answers as ta
from wenda.search.candidates import FEATURES
examples, searchers = ad.all_examples(sets=ad.SETS[:1])
ex = [e for e in examples if e.set == "cmrc"][:300]
r1, k1 = ta.featurise(ex, searchers)
X1 = np.vstack(r1.X)
arr = np.load(ad.DATA / "features-cmrc.npz")
owner = arr["owner"]; n = (owner < len(k1)).sum()
D = np.abs(arr["X"][:n] - X1)
for j in np.flatnonzero(D.max(0) > 0):
    print(FEATURES[j], D[:, j].max(), (D[:, j] > 0).sum())
