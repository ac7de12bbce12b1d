# String work through Pythran: a tenant whose one request builds, splits,
# searches, rewrites and joins text. bench_compute.py builds it as a tenant
# (Python -> Pythran C++ -> RISC-V) for mtd, and the same generated C++ with
# the host's g++ for the native figure.

N = 40000


def kernel(n):
    words = []
    for i in range(n):
        words.append("item" + str(i % 97))
    text = " ".join(words)
    total = 0
    initials = ""
    for word in text.split(" "):
        if word.startswith("item1"):
            total += len(word)
        initials += str(word[4:5])
    found = text.count("item4")
    replaced = text.replace("item", "x")
    return "%d %d %d %d %d" % (total, found, len(replaced), len(initials), len(text))


def on_client_request():
    return "text/plain", kernel(N) + "\n"
