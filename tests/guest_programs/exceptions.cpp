// C++ exceptions (Pythran-generated code throws): unwinding through frames,
// rethrow, std::exception hierarchy, destructors run during unwinding.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

struct Noisy {
    int id;
    ~Noisy() { std::printf("~Noisy %d\n", id); }
};

int depth(int n) {
    Noisy guard{n};
    if (n == 0) throw std::out_of_range("bottom reached");
    return depth(n - 1) + 1;
}

int main() {
    try {
        depth(3);
    } catch (const std::logic_error& e) {
        std::printf("caught logic_error: %s\n", e.what());
    }
    int caught = 0;
    for (int i = 0; i < 100; i++) {
        try {
            try {
                if (i % 3 == 0) throw i;
                throw std::string("s") + std::to_string(i);
            } catch (int) {
                caught++;
                throw;
            }
        } catch (int v) {
            caught += v;
        } catch (const std::string& s) {
            caught += (int)s.size();
        }
    }
    std::printf("caught %d\n", caught);
    try {
        std::vector<int> v(3);
        v.at(10) = 1;
    } catch (const std::exception& e) {
        std::printf("at: %s\n", e.what());
    }
    return 3;
}
