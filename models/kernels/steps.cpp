// Compiled steps of the adaptive networks (dynan_models.native builds this file and calls it):
// one ARUN step, forward and backward, over all B·N neurons of a batch, the controller's work
// fused into one pass over the neurons; and one γ activation step of the Elman γ networks.
//
// The equations are those of REFERENCES.md §1, written on q = σ(2p) = (g + 1)/2 as in
// dynan_models.sequence (tanh p = 2σ(2p) − 1):
//
//   forward, neuron r:  2p  = W_p q_{t−1} + b_p + 2u a_t     (W_p = 4 W_g, b_p = 2 b_g − 2 W_g 1)
//                       q_t = σ(2p)
//                       (n, s)_raw = W_r q_t + b_r            (W_r = 2 [w_n w_s]ᵀ, b_r = b − [w_n w_s]ᵀ 1)
//                       n = max(n_raw, n_min),  z = n a_t
//                       h_t = lerp(softplus(z)/n, σ(z), s)
//   backward, neuron r (x_g = ∂L/∂p_{t+1} on entry, ∂L/∂p_t on exit; tot = ∂L/∂h_t):
//                       x_ns = tot (∂γ/∂n [n_raw ≥ n_min], ∂γ/∂s) (+ ∂L/∂(n, s)_raw given)
//                       4 ∂L/∂g_t = W_b [x_g; x_ns] (+ 4 ∂L/∂g_t given),  W_b = 4 [W_gᵀ w_n w_s]
//                       x_g ← 4 ∂L/∂g_t · q (1 − q)                 (tanh' = 4 q (1 − q))
//                       ∂L/∂a_t = tot ∂γ/∂a + u · x_g
//                       acc += [q_t; 1; a_{t+1}] [x_g(entry); x_ns]ᵀ  (the parameter gradients)
//
// Layout: a, h, the read-outs, σ, sp and ∂L/∂a are neuron-major rows of R = B·N values; the
// controller states q and x_g are "blocked", (⌈R/lanes⌉, G, lanes): the G states of one vector of
// neurons are contiguous, so a step reads and writes each vector's states as one block (one
// stream instead of G streams R apart; measured no faster or slower at G = 16, kept because it
// makes the parts of a step contiguous). The padding lanes of the last block hold
// finite values that nothing reads back. ∂L/∂g_t, when given, is feature-major (G, R).
//
// Neurons are independent within a step, so each pass runs over vectors of neighbouring
// neurons (GCC vector extensions: 8 floats or 4 doubles, one AVX register); the matrices are
// tiny (G ≤ 64) and broadcast from cache, the outputs of a block of 8 rows stay in registers.
// exp and log1p are evaluated in-register (Cody–Waite range reduction + Taylor polynomial for
// exp; log1p t = 2 atanh(t / (2 + t)) by its odd series), accurate to a few ulp in both
// precisions. Cost per step: O(B N G²) multiply-adds, O(B N G) exponentials; memory: a copy of
// the (G + 2) × G weights per call beyond the caller's buffers (the caller allocates the vector
// accumulators of `acc`).
//
// References: Geadah et al. (2024) PLOS Comp. Biol. (the ARUN equations); Cody & Waite (1980)
// Software Manual for the Elementary Functions (range reduction of exp); Abramowitz & Stegun
// 4.5.64 and 4.1.28 (atanh series, log(1 + t) = 2 atanh(t / (2 + t))).

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

template <typename T> struct Vec;
template <> struct Vec<float> {
    typedef float v __attribute__((vector_size(32)));
    typedef int32_t i __attribute__((vector_size(32)));
    static constexpr int lanes = 8;
    static constexpr int mantissa = 23, bias = 127, exp_terms = 8, log_terms = 9;
    static constexpr float limit = 87.0f, magic = 12582912.0f;  // 1.5 · 2^23
    static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
};
template <> struct Vec<double> {
    typedef double v __attribute__((vector_size(32)));
    typedef int64_t i __attribute__((vector_size(32)));
    static constexpr int lanes = 4;
    static constexpr int mantissa = 52, bias = 1023, exp_terms = 14, log_terms = 18;
    static constexpr double limit = 708.0, magic = 6755399441055744.0;  // 1.5 · 2^52
    static constexpr double ln2_hi = 0.6931471803691238, ln2_lo = 1.9082149292705877e-10;
};

template <typename T> using V = typename Vec<T>::v;
template <typename T> using I = typename Vec<T>::i;

template <typename T> inline V<T> splat(T x) { return V<T>{} + x; }

// Load / store a vector of neighbouring values; FULL = false: only the first m (the tail of a
// row is shorter than a vector; the other lanes read as 0). FULL is a template argument so that
// the loop over full vectors compiles to plain vector loads and stores.
template <bool FULL, typename T> inline V<T> load(const T* p, long m) {
    V<T> v = V<T>{};
    std::memcpy(&v, p, FULL ? sizeof(V<T>) : sizeof(T) * m);
    return v;
}
template <bool FULL, typename T> inline void store(T* p, V<T> v, long m) {
    std::memcpy(p, &v, FULL ? sizeof(V<T>) : sizeof(T) * m);
}

// e^x: x = k ln2 + r, |r| ≤ ln2/2, e^r by its Taylor series, 2^k through the exponent bits.
// NaN stays NaN; x is clamped to ±limit (e^±limit is the largest/smallest normal scale).
template <typename T> inline V<T> vexp(V<T> x) {
    typedef Vec<T> C;
    const V<T> hi = splat<T>(C::limit), lo = splat<T>(-C::limit);
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    V<T> k = (x * (T)1.4426950408889634 + C::magic) - C::magic;  // round to nearest
    V<T> r = (x - k * C::ln2_hi) - k * C::ln2_lo;
    T inv[C::exp_terms];  // 1/j!
    inv[0] = 1;
    for (int j = 1; j < C::exp_terms; ++j) inv[j] = inv[j - 1] / j;
    V<T> p = splat<T>(inv[C::exp_terms - 1]);
    for (int j = C::exp_terms - 2; j >= 0; --j) p = p * r + inv[j];  // Horner: Σ r^j / j!
    I<T> bits = (__builtin_convertvector(k, I<T>) + C::bias) << C::mantissa;
    return p * (V<T>)bits;
}

// log(1 + t) for t in [0, 1]: 2 atanh(y), y = t/(2 + t) ≤ 1/3, by its odd series in y².
template <typename T> inline V<T> vlog1p_unit(V<T> t) {
    const V<T> y = t / (t + 2);
    const V<T> y2 = y * y;
    V<T> s = splat<T>((T)1 / (2 * Vec<T>::log_terms - 1));
    for (int j = Vec<T>::log_terms - 2; j >= 0; --j) s = s * y2 + (T)1 / (2 * j + 1);
    return 2 * y * s;
}

// σ(x) from t = e^{−|x|} ∈ (0, 1]: 1/(1 + t) for x ≥ 0, t/(1 + t) below (never overflows).
template <typename T> inline V<T> vsigmoid_from(V<T> x, V<T> t) {
    const V<T> r = 1 / (1 + t);  // a true division: σ of a large x is exactly 1, as in torch
    return x < V<T>{} ? t * r : r;
}

template <typename T> inline V<T> vneg_abs(V<T> x) { return x < V<T>{} ? x : -x; }

template <typename T> inline V<T> vsigmoid(V<T> x) { return vsigmoid_from<T>(x, vexp<T>(vneg_abs<T>(x))); }

// σ(z) and softplus(z) = max(z, 0) + log1p(e^{−|z|}) from one exponential; softplus is z
// itself above `threshold` (torch's convention, where log1p(e^{−z}) rounds away).
template <typename T> inline void vsig_softplus(V<T> z, T threshold, V<T>& sig, V<T>& sp) {
    const V<T> t = vexp<T>(vneg_abs<T>(z));
    sig = vsigmoid_from<T>(z, t);
    const V<T> pos = z > V<T>{} ? z : V<T>{};
    sp = z > splat<T>(threshold) ? z : pos + vlog1p_unit<T>(t);
}

constexpr int BLOCK = 8;  // outputs of a matrix-vector product kept in registers at once
constexpr long MAX_G = 64;
constexpr long CHUNK = 8;  // vectors of neurons whose outer products are summed in registers

// The rows of a (rows × cols) matrix, padded with zero rows to a multiple of BLOCK, in the order
// [row block][column][row within the block], so that a block's weights for one column are
// neighbours (read contiguously below, each broadcast to a vector from L1). Scalars rather than
// pre-broadcast vectors: at G = 50 the vectors (90 kB) no longer fit in L1 (measured once at
// B·N = 40000: forward 7.0 → 5.0 ms, backward 11.2 → 8.7 ms a step; the same at G = 16).
template <typename T> T* blocked_weights(const T* w, long rows, long cols) {
    const long padded = (rows + BLOCK - 1) / BLOCK * BLOCK;
    const std::size_t bytes = (sizeof(T) * padded * cols + 31) / 32 * 32;
    auto* out = static_cast<T*>(std::aligned_alloc(32, bytes));
    if (!out) return nullptr;
    for (long i = 0; i < padded; ++i)
        for (long k = 0; k < cols; ++k)
            out[(i / BLOCK) * cols * BLOCK + k * BLOCK + i % BLOCK] = i < rows ? w[i * cols + k] : T(0);
    return out;
}

// out[i] = init[i] + Σ_k w[i, k] x_k for i < rows (out padded to a multiple of BLOCK).
template <typename T, typename Init, typename Get>
inline void matvec(long rows, long cols, const T* wb, Init init, Get x_at, V<T>* out) {
    for (long i0 = 0; i0 < rows; i0 += BLOCK) {
        const T* w = wb + i0 * cols;
        V<T> c[BLOCK];
#pragma GCC unroll 8
        for (int j = 0; j < BLOCK; ++j) c[j] = init(i0 + j);
        for (long k = 0; k < cols; ++k) {
            const V<T> xk = x_at(k);
#pragma GCC unroll 8
            for (int j = 0; j < BLOCK; ++j) c[j] += w[k * BLOCK + j] * xk;
        }
#pragma GCC unroll 8
        for (int j = 0; j < BLOCK; ++j) out[i0 + j] = c[j];
    }
}

template <typename T> struct Forward {
    long R, G;
    const T *a, *q_prev;
    T* q_out;
    const T* w_p;  // blocked_weights
    const T *b_p, *u2, *w_r, *b_r;
    T n_min, threshold;
    T *h, *raw, *sig, *sp;
};

template <bool F, typename T> inline void forward_block(const Forward<T>& f, long r, long m) {
    const long G = f.G;
    V<T> p[MAX_G + BLOCK];
    const V<T> av = load<F>(f.a + r, m);
    const long L = Vec<T>::lanes;
    const T* q_prev = f.q_prev + r * G;  // blocked: this vector's G states are contiguous
    T* q_out = f.q_out + r * G;
    matvec<T>(
        G, G, f.w_p,
        [&](long i) { return i < G ? splat<T>(f.b_p[i]) + f.u2[i] * av : V<T>{}; },
        [&](long k) { return load<true>(q_prev + k * L, L); }, p);
    V<T> n = splat<T>(f.b_r[0]), s = splat<T>(f.b_r[1]);
    for (long i = 0; i < G; ++i) {
        const V<T> q = vsigmoid<T>(p[i]);
        store<true>(q_out + i * L, q, L);
        n += f.w_r[i] * q;
        s += f.w_r[G + i] * q;
    }
    if (f.raw) {
        store<F>(f.raw + r, n, m);
        store<F>(f.raw + f.R + r, s, m);
    }
    const V<T> floor = splat<T>(f.n_min);
    n = n < floor ? floor : n;
    const V<T> z = av * n;
    V<T> sg, spn;
    vsig_softplus<T>(z, f.threshold, sg, spn);
    spn /= n;
    store<F>(f.h + r, spn + s * (sg - spn), m);
    if (f.sig) store<F>(f.sig + r, sg, m);
    if (f.sp) store<F>(f.sp + r, spn, m);
}

template <typename T> int forward_step(Forward<T> f, const T* w_p, long r0, long r1) {
    T* wb = blocked_weights<T>(w_p, f.G, f.G);
    if (!wb) return 2;
    f.w_p = wb;
    const long L = Vec<T>::lanes, full = r0 + (r1 - r0) / L * L;
    for (long r = r0; r < full; r += L) forward_block<true>(f, r, L);
    if (full < r1) forward_block<false>(f, full, r1 - full);
    std::free(wb);
    return 0;
}

template <typename T> struct Backward {
    long R, G;
    const T *tot, *a, *a_next, *raw, *sig, *sp, *q;
    T* xg;
    const T *grad_g, *grad_raw;
    const T* w_b;  // blocked_weights
    const T* u;
    T n_min;
    T* grad_a;
};

// Row vectors of the outer products of one chunk: Qc [q; 1; a_next] and Xc [x_g; x_ns], each
// (rows padded to TILE_I / TILE_J) × CHUNK, zero beyond.
constexpr long TILE_I = 3, TILE_J = 4, PAD = MAX_G + 4;

template <bool F, typename T>
inline void backward_block(const Backward<T>& b, long r, long m, V<T>* Qc, V<T>* Xc, long slot) {
    const long R = b.R, G = b.G, K = G + 2, L = Vec<T>::lanes;
    T* xg = b.xg + r * G;  // blocked, as q
    const T* q = b.q + r * G;
    const V<T> tv = load<F>(b.tot + r, m), av = load<F>(b.a + r, m), sg = load<F>(b.sig + r, m);
    const V<T> spv = load<F>(b.sp + r, m), n_raw = load<F>(b.raw + r, m);
    const V<T> s = load<F>(b.raw + R + r, m);
    const V<T> floor = splat<T>(b.n_min);
    const V<T> n = n_raw < floor ? floor : n_raw;
    const V<T> slope = sg * (1 - sg);
    const V<T> d_a = (1 - s) * sg + s * n * slope;
    V<T> d_n = (1 - s) / n * (av * sg - spv) + s * av * slope;
    d_n = n_raw >= floor ? d_n : V<T>{};
    for (long k = 0; k < G; ++k) Xc[k * CHUNK + slot] = load<true>(xg + k * L, L);
    V<T> xn = tv * d_n, xs = tv * (sg - spv);
    if (b.grad_raw) {
        xn += load<F>(b.grad_raw + r, m);
        xs += load<F>(b.grad_raw + R + r, m);
    }
    Xc[G * CHUNK + slot] = xn;
    Xc[(G + 1) * CHUNK + slot] = xs;
    V<T> g4[MAX_G + BLOCK];
    matvec<T>(
        G, K, b.w_b,
        [&](long i) { return b.grad_g && i < G ? 4 * load<F>(b.grad_g + i * R + r, m) : V<T>{}; },
        [&](long k) { return Xc[k * CHUNK + slot]; }, g4);
    V<T> ga = tv * d_a;
    for (long i = 0; i < G; ++i) {
        const V<T> qi = load<true>(q + i * L, L);
        const V<T> gp = g4[i] * (qi - qi * qi);
        store<true>(xg + i * L, gp, L);
        ga += b.u[i] * gp;
        Qc[i * CHUNK + slot] = qi;
    }
    store<F>(b.grad_a + r, ga, m);
    Qc[G * CHUNK + slot] = splat<T>(1);  // lanes past the end hold zeros in Xc: they add 0
    Qc[(G + 1) * CHUNK + slot] = b.a_next ? load<F>(b.a_next + r, m) : V<T>{};
}

// accv[i, j] += Σ_slots Qc[i] Xc[j] (i, j < K), TILE_I × TILE_J sums in registers at a time.
template <typename T> void flush(V<T>* accv, long K, const V<T>* Qc, const V<T>* Xc, long used) {
    for (long i0 = 0; i0 < K; i0 += TILE_I)
        for (long j0 = 0; j0 < K; j0 += TILE_J) {
            V<T> c[TILE_I][TILE_J] = {};
            for (long v = 0; v < used; ++v) {
#pragma GCC unroll 3
                for (long i = 0; i < TILE_I; ++i) {
                    const V<T> qi = Qc[(i0 + i) * CHUNK + v];
#pragma GCC unroll 4
                    for (long j = 0; j < TILE_J; ++j) c[i][j] += qi * Xc[(j0 + j) * CHUNK + v];
                }
            }
            for (long i = 0; i < TILE_I && i0 + i < K; ++i)
                for (long j = 0; j < TILE_J && j0 + j < K; ++j) accv[(i0 + i) * K + j0 + j] += c[i][j];
        }
}

template <typename T> int backward_step(Backward<T> b, const T* w_b, T* acc, long r0, long r1) {
    T* wb = blocked_weights<T>(w_b, b.G, b.G + 2);
    if (!wb) return 2;
    b.w_b = wb;
    V<T> Qc[PAD * CHUNK] = {}, Xc[PAD * CHUNK] = {};
    V<T>* accv = reinterpret_cast<V<T>*>(acc);  // (G + 2)² vectors, the caller sums the lanes
    const long L = Vec<T>::lanes, K = b.G + 2;
    long slot = 0;
    for (long r = r0; r < r1; r += L) {
        if (r + L <= r1)
            backward_block<true>(b, r, L, Qc, Xc, slot);
        else
            backward_block<false>(b, r, r1 - r, Qc, Xc, slot);
        if (++slot == CHUNK) {
            flush<T>(accv, K, Qc, Xc, slot);
            slot = 0;
        }
    }
    if (slot) flush<T>(accv, K, Qc, Xc, slot);
    std::free(wb);
    return 0;
}

template <typename T> struct Gamma {
    const T *a, *n, *s;
    T threshold;
    T *h, *sig, *sp;
};

// h = lerp(softplus(n a)/n, σ(n a), s) for one vector of neurons (n, s given per neuron).
template <bool F, typename T> inline void gamma_block(const Gamma<T>& g, long r, long m) {
    const V<T> n = load<F>(g.n + r, m), s = load<F>(g.s + r, m);
    V<T> sg, spn;
    vsig_softplus<T>(load<F>(g.a + r, m) * n, g.threshold, sg, spn);
    spn /= n;
    store<F>(g.h + r, spn + s * (sg - spn), m);
    if (g.sig) store<F>(g.sig + r, sg, m);
    if (g.sp) store<F>(g.sp + r, spn, m);
}

template <typename T> void gamma_step(long R, const Gamma<T>& g) {
    const long L = Vec<T>::lanes, full = R / L * L;
    for (long r = 0; r < full; r += L) gamma_block<true>(g, r, L);
    if (full < R) gamma_block<false>(g, full, R - full);
}

// Neurons r0 … r1 − 1 of R: a vector-aligned part, so that threads can share a step.
inline bool bad_range(long R, long G, long r0, long r1, long lanes) {
    return G < 1 || G > MAX_G || r0 < 0 || r0 > r1 || r1 > R || r0 % lanes;
}

}  // namespace

#define ARUN_EXPORT(T, SUFFIX)                                                                 \
    extern "C" int arun_forward_step_##SUFFIX(                                                 \
        long R, long G, long r0, long r1, const T* a, const T* q_prev, T* q_out, const T* w_p, \
        const T* b_p, const T* u2, const T* w_r, const T* b_r, T n_min, T threshold, T* h,     \
        T* raw, T* sig, T* sp) {                                                               \
        if (bad_range(R, G, r0, r1, Vec<T>::lanes)) return 1;                                  \
        return forward_step<T>({R, G, a, q_prev, q_out, nullptr, b_p, u2, w_r, b_r, n_min,     \
                                threshold, h, raw, sig, sp},                                   \
                               w_p, r0, r1);                                                   \
    }                                                                                          \
    extern "C" int arun_backward_step_##SUFFIX(                                                \
        long R, long G, long r0, long r1, const T* tot, const T* a, const T* a_next,           \
        const T* raw, const T* sig, const T* sp, const T* q, T* xg, const T* grad_g,           \
        const T* grad_raw, const T* w_b, const T* u, T n_min, T* grad_a, T* acc) {             \
        if (bad_range(R, G, r0, r1, Vec<T>::lanes)) return 1;                                  \
        return backward_step<T>({R, G, tot, a, a_next, raw, sig, sp, q, xg, grad_g, grad_raw,  \
                                 nullptr, u, n_min, grad_a},                                   \
                                w_b, acc, r0, r1);                                             \
    }

#define GAMMA_EXPORT(T, SUFFIX)                                                                 \
    extern "C" int gamma_step_##SUFFIX(long R, const T* a, const T* n, const T* s, T threshold, \
                                       T* h, T* sig, T* sp) {                                   \
        gamma_step<T>(R, {a, n, s, threshold, h, sig, sp});                                     \
        return 0;                                                                              \
    }

GAMMA_EXPORT(float, f32)
GAMMA_EXPORT(double, f64)
ARUN_EXPORT(float, f32)
ARUN_EXPORT(double, f64)

extern "C" int arun_max_controller(void) { return (int)MAX_G; }
