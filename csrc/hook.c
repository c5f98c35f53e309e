/*
 * restrain._hook -- the PEP 523 frame evaluator.
 *
 * What it does, per frame the interpreter is about to run:
 *   1. frames it must leave alone go straight to _PyEval_EvalFrameDefault:
 *      a throw into a generator, a frame resumed mid-way (generators,
 *      coroutines), tracing or profiling active, restrain's own threads;
 *   2. a code object with a compiled entry point runs that instead: the
 *      frame is linked into the thread's frame chain exactly as the default
 *      evaluator does it, so sys._getframe(), tracebacks, inspect, logging
 *      and warnings see it as usual;
 *   3. otherwise the call is counted (a co_extra slot per code object) and,
 *      at the threshold, the code object is handed once to a Python
 *      callback (restrain.runtime) that queues or performs the compile.
 *
 * In "windows" mode the evaluator is installed only while restrain looks
 * for hot code; in between, compiled functions are entered through their
 * function objects (RsFunctionType, compiled_vectorcall).  Compiled code
 * calling compiled code skips both (call_function, the direct call).
 *
 * Everything about compiling is Python; this file is the hook, the frame
 * handling and the bookkeeping, nothing more.  The ABI compiled modules
 * call is restrain/include/restrain_abi.h.
 */
#define PY_SSIZE_T_CLEAN
/* this file's own copy of 3.11's opcode tables (has_loop): libpython does
 * not export them */
#define NEED_OPCODE_TABLES
#include "restrain_abi.h"
#include "internal/pycore_opcode.h"
#include <pthread.h>
#include <time.h>

enum {
    RS_COUNTING = 0,   /* below the threshold */
    RS_QUEUED = 1,     /* handed to the callback, no entry yet */
    RS_COMPILED = 2,   /* entry installed */
    RS_NEVER = 3,      /* cannot or must not be compiled: never queued again */
};

#define RS_DEOPT_SITES 8

/* a function's own scope, and not a generator or coroutine: what compiles */
#define RS_FUNCTION_FLAGS (CO_OPTIMIZED | CO_NEWLOCALS)
#define RS_RESUMABLE_FLAGS (CO_GENERATOR | CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR)

static inline int is_function_scope(int flags) {
    return (flags & RS_FUNCTION_FLAGS) == RS_FUNCTION_FLAGS && !(flags & RS_RESUMABLE_FLAGS);
}

#define RS_SIGNATURE_MAX 16

/* Per code object, in a co_extra slot (freed with the code object). */
typedef struct {
    Py_ssize_t calls;
    int state;
    RsEntry entry;
    PyObject *owner;   /* keeps the compiled entry's capsule alive */
    /* deoptimisations of the current compiled version, and where */
    Py_ssize_t deopts;
    int nsites;
    int sites[RS_DEOPT_SITES];
    /* calls from compiled code while left to the interpreter (see leaf_called) */
    Py_ssize_t calls_from_compiled;
    /* the compiled version's C version, if it has one, and its signature
     * (RsApi.pure_version); kept alive by `owner`'s module */
    void *pure;
    char pure_signature[RS_SIGNATURE_MAX];
    /* the code has a loop: its calls are timed while counting (long_call) */
    char has_loop;
    char long_call_reported;
    /* compiled for compiled callers only (a leaf, runtime._compile_leaf):
     * its function objects keep their type, so that interpreted callers
     * keep inlining their calls of it (the interpreted version runs there);
     * compiled callers call the compiled entry directly all the same */
    char compiled_callers_only;
    /* compiled for its frameless version only (runtime._saves_slot_frames:
     * a method the interpreter reaches through a type's slot): a call
     * through its swapped function object that cannot take the frameless
     * version (keywords, defaults) runs as a plain function's would, not
     * on the compiled entry the evaluator would be switched on for */
    char frameless_only;
    /* time spent in its timed calls of RS_TIMED_CALL_MIN_NS or more */
    int64_t long_ns;
    /* all its timed calls, and their time (call_time(): how long its
     * loops run per call, for the cost model) */
    Py_ssize_t timed_calls;
    int64_t timed_ns;
    /* what a direct call (direct_call_possible) asks of the code object:
     * how many positional arguments a call passes straight into its frame
     * (-1: none do: keyword-only or variable arguments, not a function's
     * own scope), and the size of its frame */
    int direct_argcount;
    int frame_size;
    /* its frameless version (frameless.py), tried first by compiled
     * callers; kept alive by `owner`'s module.  It gives up (NULL) on
     * anything but its fast paths; one that gives up on most calls is
     * dropped (RS_FRAMELESS_GIVE_UPS). */
    RsFrameless frameless;
    RsFlBody frameless_body;        /* the same version, for other frameless versions (rs_fl_call) */
    Py_ssize_t frameless_hits;
    Py_ssize_t frameless_give_ups;
} RsCodeInfo;

/* A frameless version that has given up this many times, and on more than
 * one call in RS_FRAMELESS_HIT_RATIO, is not tried again (each give-up
 * costs its attempt on top of the call). */
#define RS_FRAMELESS_GIVE_UPS 256
#define RS_FRAMELESS_HIT_RATIO 8

/* 3.11 has no co_framesize yet: _PyEvalFramePushAndInit's size */
#define RS_FRAME_SIZE(co) ((co)->co_nlocalsplus + (co)->co_stacksize + FRAME_SPECIALS_SIZE)

static Py_ssize_t extra_index = -1;
static PyObject *hot_callback = NULL;
/* Called once per process when a first code object is halfway to the
 * threshold: the compiler can start up before the first compile is due. */
static PyObject *prewarm_callback = NULL;
static Py_ssize_t threshold = 1000;
/* Called as deopt_callback(code, sites) when a compiled version has handed
 * frames back to the interpreter deopt_limit times: its guesses were wrong
 * and it is dropped, to be recompiled for what the code sees now. */
static PyObject *deopt_callback = NULL;
static Py_ssize_t deopt_limit = 20;
/* Called as leaf_callback(code) when a code object the Python side left to
 * the interpreter (RS_NEVER) has been called `threshold` times by compiled
 * code: a small function without a loop is not worth compiling on its own,
 * but called from a compiled loop it is (a direct C call instead of a new
 * interpreter frame), and the sampler sees such a short function too rarely
 * to tell. */
static PyObject *leaf_callback = NULL;
/* long_call_callback(code, types): the calls of a function with a loop
 * timed while counting ran RS_LONG_CALL_NS together (once per code object,
 * unless it returns False) */
static PyObject *long_call_callback = NULL;
/* Called as fingerprint_callback(code) -> str, the code object's content
 * digest (build.code_fingerprint): compiled code checks once per code
 * object that a function it calls runs the code whose C version it has
 * (restrain_abi.h, rs_pure_call_budget). */
static PyObject *fingerprint_callback = NULL;
static int installed = 0;
/* >0 while this thread runs restrain's own machinery (compiler thread,
 * synchronous compiles): its frames are neither counted nor compiled. */
static _Thread_local int paused = 0;

/* RsApi.frameless_epoch: moved on by every change of any frameless
 * version, and when a code object with restrain's information is freed */
static Py_ssize_t frameless_epoch = 0;

/* The code object's frameless version is gone (or about to be replaced):
 * call sites that remember it (RsFlSite) look again. */
static inline void drop_frameless(RsCodeInfo *info) {
    info->frameless = NULL;
    info->frameless_body = NULL;
    frameless_epoch++;
}

static void free_info(void *p) {
    frameless_epoch++;
    RsCodeInfo *info = (RsCodeInfo *)p;
    if (info == NULL) return;
    Py_XDECREF(info->owner);
    PyMem_RawFree(info);
}

/* A code object's RsCodeInfo, read straight from 3.11's co_extra layout
 * (_PyCodeObjectExtra, private to Objects/codeobject.c): no call, for the
 * direct-call path; NULL if it has none yet. */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} RsCodeExtra;

static inline RsCodeInfo *fast_info(PyCodeObject *co) {
    RsCodeExtra *extra = (RsCodeExtra *)co->co_extra;
    if (extra == NULL || extra_index >= extra->ce_size) return NULL;
    return (RsCodeInfo *)extra->ce_extras[extra_index];
}

/* Whether the code has a backward jump (3.11: specialised forms map back
 * through _PyOpcode_Deopt; inline caches are skipped). */
static int has_backward_jump(PyCodeObject *co) {
    _Py_CODEUNIT *code = _PyCode_CODE(co);
    Py_ssize_t n = Py_SIZE(co);
    for (Py_ssize_t i = 0; i < n; i++) {
        int op = _PyOpcode_Deopt[_Py_OPCODE(code[i])];
        if (op == JUMP_BACKWARD) return 1;
        i += _PyOpcode_Caches[op];
    }
    return 0;
}

static RsCodeInfo *get_info(PyCodeObject *co, int create) {
    RsCodeInfo *info = fast_info(co);
    if (info != NULL || !create) return info;
    info = PyMem_RawCalloc(1, sizeof(RsCodeInfo));
    if (info == NULL) return NULL;
    info->has_loop = is_function_scope(co->co_flags) && has_backward_jump(co);
    info->direct_argcount = co->co_kwonlyargcount == 0 && !(co->co_flags & (CO_VARARGS | CO_VARKEYWORDS)) &&
        is_function_scope(co->co_flags) ? co->co_argcount : -1;
    info->frame_size = (int)RS_FRAME_SIZE(co);
    if (_PyCode_SetExtra((PyObject *)co, extra_index, info) < 0) {
        PyErr_Clear();
        PyMem_RawFree(info);
        return NULL;
    }
    return info;
}

/* The instruction indices where the current version deoptimised. */
static PyObject *sites_tuple(RsCodeInfo *info) {
    PyObject *sites = PyTuple_New(info->nsites);
    if (sites == NULL) return NULL;
    for (int i = 0; i < info->nsites; i++) {
        PyObject *index = PyLong_FromLong(info->sites[i]);
        if (index == NULL) { Py_DECREF(sites); return NULL; }
        PyTuple_SET_ITEM(sites, i, index);
    }
    return sites;
}

/* A compiled version handed a frame back to the interpreter at `index`:
 * count it, and after deopt_limit of them drop the version. */
static void note_deopt(PyCodeObject *co, RsCodeInfo *info, int index) {
    info->deopts++;
    int known = 0;
    for (int i = 0; i < info->nsites; i++) known |= info->sites[i] == index;
    if (!known && info->nsites < RS_DEOPT_SITES) info->sites[info->nsites++] = index;
    if (info->deopts < deopt_limit || info->entry == NULL || deopt_callback == NULL) return;
    /* Drop this version (the module stays loaded: frames further up may
     * still run it) and let the Python side compile another. */
    info->entry = NULL;
    info->pure = NULL;
    drop_frameless(info);
    info->state = RS_QUEUED;
    PyObject *sites = sites_tuple(info);
    if (sites == NULL) { PyErr_Clear(); return; }
    info->deopts = 0;
    info->nsites = 0;
    PyObject *exc_type, *exc_value, *exc_tb;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    paused++;
    PyObject *r = PyObject_CallFunctionObjArgs(deopt_callback, (PyObject *)co, sites, NULL);
    paused--;
    if (r == NULL) PyErr_WriteUnraisable(deopt_callback);
    Py_XDECREF(r);
    Py_DECREF(sites);
    PyErr_Restore(exc_type, exc_value, exc_tb);
}

/* ---- the C stack ---------------------------------------------------------
 * 3.11's interpreter runs Python-to-Python calls without C recursion, so a
 * program may raise the recursion limit and recurse 100000 deep.  Compiled
 * code recurses on the C stack (a few hundred bytes per call): near the end
 * of the thread's stack a call runs on the interpreter instead, whose calls
 * (the evaluator is off between windows) no longer use the C stack. */
#define RS_STACK_RESERVE (512 * 1024)
static _Thread_local uintptr_t thread_stack_limit = 0;   /* lowest address compiled code may use */

static uintptr_t stack_limit_of_this_thread(void) {
    if (thread_stack_limit == 0) {
        pthread_attr_t attr;
        void *base = NULL;
        size_t size = 0;
        thread_stack_limit = 1;     /* unknown: never low */
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            /* a small stack (threading.stack_size(256 * 1024)) keeps half of
             * itself: "never low" there let compiled recursion overflow it */
            if (pthread_attr_getstack(&attr, &base, &size) == 0 && size > 0)
                thread_stack_limit = (uintptr_t)base + (size > 2 * RS_STACK_RESERVE ? RS_STACK_RESERVE : size / 2);
            pthread_attr_destroy(&attr);
        }
    }
    return thread_stack_limit;
}

/* The values of the thread that asked last, by its thread state's unique
 * id (never reused, unlike the state's address): its stack limit, and where
 * its `paused` counter lives.  A thread-local variable of a shared library
 * is read through a call of __tls_get_addr (3-4% of richards' time with
 * every direct call asking for the stack limit, 1.5% more for `paused`).
 * Only under the GIL, so one thread at a time reads and writes these. */
static uint64_t thread_owner = 0;       /* tstate->id; ids start at 1 */
static uintptr_t stack_limit = 1;
static int *owner_paused = NULL;

static inline void own_thread(PyThreadState *tstate) {
    if (tstate->id != thread_owner) {
        stack_limit = stack_limit_of_this_thread();
        owner_paused = &paused;
        thread_owner = tstate->id;
    }
}

static inline uintptr_t current_stack_limit(void) {
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL) return stack_limit_of_this_thread();
    own_thread(tstate);
    return stack_limit;
}

/* `paused` of the thread of `tstate` (the current one) */
static inline int thread_paused(PyThreadState *tstate) {
    own_thread(tstate);
    return *owner_paused;
}

static inline int c_stack_is_low(void) {
    char here;
    return (uintptr_t)&here < current_stack_limit();
}

/* Run a compiled entry point for `frame`, linked into the frame chain the
 * way _PyEval_EvalFrameDefault links an entry frame (ceval.c, 3.11).
 * Inlined into both callers: one C frame less per compiled call. */
static inline __attribute__((always_inline)) PyObject *
run_compiled(PyThreadState *tstate, _PyInterpreterFrame *frame, RsCodeInfo *info) {
    RsEntry entry = info->entry;
    int deopt_index = -1;
    _PyCFrame cframe;
    _PyCFrame *prev_cframe = tstate->cframe;
    cframe.use_tracing = prev_cframe->use_tracing;
    cframe.previous = prev_cframe;
    tstate->cframe = &cframe;
    frame->is_entry = true;
    frame->previous = prev_cframe->current_frame;
    cframe.current_frame = frame;

    PyObject *result = NULL;
    /* pycore_ceval.h's _Py_EnterRecursiveCallTstate */
    if (tstate->recursion_remaining-- <= 0 && _Py_CheckRecursiveCall(tstate, "")) {
        /* RecursionError is set; the counter is already balanced */
        goto unlink;
    }

    PyCodeObject *co = frame->f_code;
    RsFrame f;
    f.tstate = tstate;
    f.frame = frame;
    f.locals = frame->localsplus;
    f.first_instr = _PyCode_CODE(co);
    f.consts = co->co_consts;
    f.names = co->co_names;
    f.eval_breaker = &tstate->interp->ceval.eval_breaker;
    f.exc_shadow = tstate->exc_info->exc_value;
    Py_XINCREF(f.exc_shadow);
    f.second = NULL;
    f.reraise = 0;
    f.unwind_index = -1;
    f.deopt = 0;
    f.deopt_depth = 0;
    f.deopt_index = -1;

    result = entry(&f);

    if (f.deopt) {
        /* the frame now holds the interpreter's state at deopt_index */
        Py_XDECREF(result);
        result = NULL;
        deopt_index = f.deopt_index;
    } else if (result == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        rs_fix_traceback(&f, &tb);
        PyErr_Restore(type, value, tb);
    }
    /* Cython's try/except may have left its own idea of the exception
     * state; the frame's is in exc_shadow. */
    if (tstate->exc_info->exc_value != f.exc_shadow) {
        PyObject *old = tstate->exc_info->exc_value;
        tstate->exc_info->exc_value = f.exc_shadow;
        Py_XDECREF(old);
    } else {
        Py_XDECREF(f.exc_shadow);
    }
    Py_XDECREF(f.second);
    tstate->recursion_remaining++;

unlink:
    tstate->cframe = cframe.previous;
    tstate->cframe->use_tracing = cframe.use_tracing;
    if (deopt_index >= 0) {
        /* Resume the interpreter where the compiled code stopped: it links
         * the frame again itself (design.md, fact 4). */
        note_deopt(frame->f_code, info, deopt_index);
        return _PyEval_EvalFrameDefault(tstate, frame, 0);
    }
    return result;
}


/* ---- direct calls from compiled code ------------------------------------- */
/* A compiled function calling a function whose code is compiled too skips
 * PyObject_Vectorcall, _PyEval_Vector and the evaluator: it pushes the
 * callee's frame on the thread's frame stack itself (as the interpreter's
 * CALL_PY_EXACT_ARGS does) and runs the compiled entry on it.  3.11 exports
 * neither its frame push/pop nor _PyFrame_Clear, so the fast path of each is
 * done here; when the current chunk of the frame stack is full the call
 * takes the generic path. */

/* _PyFrame_Clear's take_ownership (Python/frame.c, 3.11): a frame object
 * outlives the call, so it gets its own copy of the frame. */
static void frame_object_takes_over(PyFrameObject *f, _PyInterpreterFrame *frame, PyThreadState *tstate) {
    Py_ssize_t size = ((char *)&frame->localsplus[frame->stacktop]) - (char *)frame;
    memcpy((_PyInterpreterFrame *)f->_f_frame_data, frame, size);
    frame = (_PyInterpreterFrame *)f->_f_frame_data;
    f->f_frame = frame;
    frame->owner = FRAME_OWNED_BY_FRAME_OBJECT;
    if (_PyFrame_IsIncomplete(frame)) {
        frame->prev_instr = _PyCode_CODE(frame->f_code) + frame->f_code->_co_firsttraceable;
    }
    if (frame->previous != NULL) {
        /* the caller is the current frame again: link the frame objects */
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
        PyFrameObject *back = PyThreadState_GetFrame(tstate);   /* new reference or NULL */
        if (back == NULL) PyErr_Clear();
        f->f_back = back;
        frame->previous = NULL;
        PyErr_Restore(exc_type, exc_value, exc_tb);
    }
    if (!PyObject_GC_IsTracked((PyObject *)f)) PyObject_GC_Track((PyObject *)f);
}

/* _PyFrame_Clear (3.11) for a frame this file pushed. */
static void clear_frame_slow(_PyInterpreterFrame *frame, PyThreadState *tstate) {
    if (frame->frame_obj) {
        PyFrameObject *f = frame->frame_obj;
        frame->frame_obj = NULL;
        if (Py_REFCNT(f) > 1) {
            frame_object_takes_over(f, frame, tstate);
            Py_DECREF(f);
            return;
        }
        Py_DECREF(f);
    }
    for (int i = 0; i < frame->stacktop; i++) Py_XDECREF(frame->localsplus[i]);
    Py_XDECREF(frame->f_locals);
    Py_DECREF(frame->f_func);
    Py_DECREF(frame->f_code);
}

/* The same, inline for the usual frame: no frame object was made for it
 * (sys._getframe, a traceback) and it has no locals dictionary. */
static inline __attribute__((always_inline)) void clear_frame(_PyInterpreterFrame *frame, PyThreadState *tstate) {
    if (frame->frame_obj != NULL || frame->f_locals != NULL) {
        clear_frame_slow(frame, tstate);
        return;
    }
    for (int i = 0; i < frame->stacktop; i++) Py_XDECREF(frame->localsplus[i]);
    Py_DECREF(frame->f_func);
    Py_DECREF(frame->f_code);
}

static Py_ssize_t direct_calls = 0;   /* for the tests: the direct path ran */
static Py_ssize_t frameless_calls = 0;  /* for the tests: a frameless version returned */
/* for the tests: a frameless version called another one (it may have given up) */
static Py_ssize_t nested_frameless_calls = 0;

/* use_frameless(flag): off, every call takes the direct path with a frame
 * (tests of that path, and A/B measurements) */
static int frameless_on = 1;

/* What a call of one of the Python side's callbacks returned (r, a new
 * reference or NULL): 0 done; 1 it raised an Exception, reported as
 * unraisable (the callbacks catch everything of their own, so that is a
 * restrain bug, and a JIT bug must never reach the program); -1 it was
 * interrupted by something the program must see (KeyboardInterrupt and
 * other non-Exception BaseExceptions), left set. */
static int callback_result(PyObject *r, PyObject *callback) {
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_WriteUnraisable(callback);
        return 1;
    }
    return -1;
}

/* Tell the Python side (leaf_callback); -1 only for an interruption the
 * program must see (callback_result). */
static int leaf_called(PyCodeObject *co) {
    if (leaf_callback == NULL) return 0;
    paused++;
    PyObject *r = PyObject_CallOneArg(leaf_callback, (PyObject *)co);
    paused--;
    return callback_result(r, leaf_callback) < 0 ? -1 : 0;
}

/* ---- long calls ----------------------------------------------------------
 * The evaluator counts calls, and a function with a long loop may be called
 * a handful of times: the sampler (runtime.py) finds it only if a sample
 * lands in it.  So while counting, a call of a function with a loop is
 * timed, and once its calls of at least RS_TIMED_CALL_MIN_NS have run
 * RS_LONG_CALL_NS together (one long call, or a few shorter ones: matmul's
 * make_matrix, 2.2 ms three times a round, was compiled in some runs and
 * not in others) it is handed to the Python side at the return of the
 * last, with its arguments' types as they were at entry (the frame is gone
 * by then), once per code object.  Short calls do not add up: a function
 * called thousands of times is the call counts' to find, with the cost
 * model's stricter rule for those (runtime._on_hot). */
#define RS_LONG_CALL_NS 5000000
#define RS_TIMED_CALL_MIN_NS 1000000
#define RS_TIMED_ARGS 8

static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static PyObject *eval_default(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag);
static PyObject *argument_type(_PyInterpreterFrame *frame, int i);

static PyObject *eval_timed(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag,
                            RsCodeInfo *info) {
    PyCodeObject *co = frame->f_code;
    int n = co->co_argcount + co->co_kwonlyargcount;      /* <= RS_TIMED_ARGS */
    PyObject *types[RS_TIMED_ARGS];
    for (int i = 0; i < n; i++) types[i] = Py_NewRef(argument_type(frame, i));
    Py_INCREF(co);        /* the frame's reference goes with the frame */
    int64_t start = now_ns();
    PyObject *result = eval_default(tstate, frame, throwflag);
    int64_t elapsed = now_ns() - start;
    info->timed_calls++;
    info->timed_ns += elapsed;
    if (elapsed >= RS_TIMED_CALL_MIN_NS) info->long_ns += elapsed;
    if (result != NULL && elapsed >= RS_TIMED_CALL_MIN_NS && info->long_ns >= RS_LONG_CALL_NS
            && !info->long_call_reported
            && info->state == RS_COUNTING && long_call_callback != NULL && !paused) {
        info->long_call_reported = 1;
        PyObject *tuple = PyTuple_New(n);
        if (tuple == NULL) {
            PyErr_Clear();        /* no report: the program goes on as if there had been no timing */
        } else {
            for (int i = 0; i < n; i++) PyTuple_SET_ITEM(tuple, i, Py_NewRef(types[i]));
            paused++;
            PyObject *r = PyObject_CallFunctionObjArgs(long_call_callback, (PyObject *)co, tuple, NULL);
            paused--;
            Py_DECREF(tuple);
            if (r == Py_False) info->long_call_reported = 0;     /* "ask me again at the next one" */
            if (callback_result(r, long_call_callback) < 0) Py_CLEAR(result);
        }
    }
    for (int i = 0; i < n; i++) Py_DECREF(types[i]);
    Py_DECREF(co);
    return result;
}

/* Whether a call with `nargs` positional arguments (no keywords) can run
 * the compiled entry `info` holds on a frame pushed here, without _PyEval_Vector
 * (which also fills in defaults and keyword arguments) and the evaluator. */
static inline int direct_call_possible(PyThreadState *tstate, RsCodeInfo *info, Py_ssize_t nargs) {
    if (info == NULL || info->entry == NULL || nargs != info->direct_argcount) return 0;
    own_thread(tstate);
    char here;
    return !*owner_paused && !tstate->cframe->use_tracing && (uintptr_t)&here >= stack_limit &&
        _PyThreadState_HasStackSpace(tstate, info->frame_size);
}

/* Push a frame for `func` with its arguments (direct_call_possible said
 * yes) and run the compiled entry on it. */
static inline __attribute__((always_inline)) PyObject *run_direct(PyThreadState *tstate, PyFunctionObject *func, PyCodeObject *co,
                                   RsCodeInfo *info, PyObject *const *args, Py_ssize_t nargs) {
    /* _PyThreadState_BumpFramePointer's fast path; popped below by moving
     * the top back (frames are LIFO within a chunk) */
    _PyInterpreterFrame *frame = (_PyInterpreterFrame *)tstate->datastack_top;
    tstate->datastack_top += info->frame_size;
    Py_INCREF(func);
    _PyFrame_InitializeSpecials(frame, func, NULL, co->co_nlocalsplus);
    for (Py_ssize_t i = 0; i < nargs; i++) frame->localsplus[i] = Py_NewRef(args[i]);
    for (int i = (int)nargs; i < co->co_nlocalsplus; i++) frame->localsplus[i] = NULL;
    info->calls++;
    direct_calls++;
    PyObject *result = run_compiled(tstate, frame, info);
    clear_frame(frame, tstate);
    tstate->datastack_top = (PyObject **)frame;
    return result;
}

static __attribute__((noinline, cold)) void frameless_gave_up(RsCodeInfo *info) {
    if (++info->frameless_give_ups >= RS_FRAMELESS_GIVE_UPS &&
            info->frameless_give_ups * RS_FRAMELESS_HIT_RATIO > info->frameless_hits) {
        drop_frameless(info);
    }
}

/* A call direct_call_possible said yes to: the frameless version if it
 * answers, else the compiled entry on a frame. */
static inline __attribute__((always_inline)) PyObject *run_frameless_or_direct(
        PyThreadState *tstate, PyFunctionObject *func, PyCodeObject *co, RsCodeInfo *info,
        PyObject *const *args, Py_ssize_t nargs) {
    /* the call with a frame would count against the recursion limit: at
     * the limit, it raises RecursionError there (_Py_EnterRecursiveCallTstate) */
    if (info->frameless != NULL && frameless_on && tstate->recursion_remaining > 0) {
        PyObject *result = info->frameless((PyObject *)func, args);
        if (result != NULL) {
            info->frameless_hits++;
            frameless_calls++;
            return result;
        }
        frameless_gave_up(info);
    }
    return run_direct(tstate, func, co, info, args, nargs);
}

/* A compiled caller's call of a Python function (RsApi.call_function):
 * the callee's frameless version if it has one that does not give up,
 * else its compiled entry on a frame pushed here, else the generic call. */
static PyObject *call_function(PyObject *callable, PyObject *const *args, size_t nargsf) {
    PyFunctionObject *func = (PyFunctionObject *)callable;
    PyCodeObject *co = (PyCodeObject *)func->func_code;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyThreadState *tstate = _PyThreadState_GET();
    RsCodeInfo *info = installed ? fast_info(co) : NULL;
    if (!direct_call_possible(tstate, info, nargs)) {
        if (info != NULL && info->entry == NULL && info->state == RS_NEVER && !thread_paused(tstate) &&
                ++info->calls_from_compiled == threshold && leaf_called(co) < 0) {
            return NULL;
        }
        return PyObject_Vectorcall(callable, args, nargsf, NULL);
    }
    return run_frameless_or_direct(tstate, func, co, info, args, nargs);
}

/* The lowest stack address compiled code of this thread may use (1: not
 * known), for the C versions of pure functions (restrain_abi.h). */
static uintptr_t api_stack_limit(void) {
    return current_stack_limit();
}

/* RsApi.code_matches: 1 if the code object's digest is `fingerprint`, 0
 * if not or if restrain could not tell (its error is dropped), -1 for an
 * interruption the program must see (left set). */
static int api_code_matches(PyObject *code, const char *fingerprint) {
    if (fingerprint_callback == NULL) return 0;
    paused++;
    PyObject *digest = PyObject_CallOneArg(fingerprint_callback, code);
    paused--;
    if (digest == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
        PyErr_Clear();
        return 0;
    }
    int same = PyUnicode_Check(digest) && PyUnicode_CompareWithASCIIString(digest, fingerprint) == 0;
    Py_DECREF(digest);
    return same;
}

/* RsApi.pure_version */
static void *api_pure_version(PyObject *code, const char *signature) {
    RsCodeInfo *info = fast_info((PyCodeObject *)code);
    if (info == NULL || info->state != RS_COMPILED || info->pure == NULL) return NULL;
    return strcmp(info->pure_signature, signature) == 0 ? info->pure : NULL;
}

static PyTypeObject RsFunctionType;     /* (windows mode, below) */

/* RsApi.frameless_body: what call_function would try first for this
 * call, for a frameless version calling it (restrain_abi.h rs_fl_call) */
static void *api_frameless_body(PyObject *callable, Py_ssize_t nargs) {
    PyTypeObject *type = Py_TYPE(callable);
    if (type != &PyFunction_Type && type != &RsFunctionType) return NULL;
    RsCodeInfo *info = fast_info((PyCodeObject *)((PyFunctionObject *)callable)->func_code);
    if (info == NULL || info->frameless_body == NULL || !frameless_on || nargs != info->direct_argcount)
        return NULL;
    return (void *)info->frameless_body;
}

static RsApi hook_api = {RS_API_VERSION, NULL, call_function, api_stack_limit, api_code_matches,
                         api_pure_version, api_frameless_body, &frameless_epoch, &nested_frameless_calls};

/* What the feedback keeps of a frame's argument i, borrowed: its type
 * (NoneType for one deleted), or for a Python function its code object,
 * so that a call of the argument (integrate(f, ...) calling f) can call
 * that function's C version directly (feedback.Feedback.arg_callees). */
static PyObject *argument_type(_PyInterpreterFrame *frame, int i) {
    PyCodeObject *co = frame->f_code;
    PyObject *value = frame->localsplus[i];
    /* an argument a closure captures is in a cell once MAKE_CELL ran */
    if (value != NULL && (_PyLocals_GetKind(co->co_localspluskinds, i) & CO_FAST_CELL) && PyCell_Check(value))
        value = PyCell_GET(value);
    if (value != NULL && Py_IS_TYPE(value, &PyFunction_Type))
        return PyFunction_GET_CODE(value);
    return value == NULL ? (PyObject *)&_PyNone_Type : (PyObject *)Py_TYPE(value);
}

/* The types of the call's arguments (positional and keyword-only): the
 * type feedback the compiled version is specialised for. */
static PyObject *argument_types(_PyInterpreterFrame *frame) {
    int n = frame->f_code->co_argcount + frame->f_code->co_kwonlyargcount;
    PyObject *types = PyTuple_New(n);
    if (types == NULL) return NULL;
    for (int i = 0; i < n; i++) PyTuple_SET_ITEM(types, i, Py_NewRef(argument_type(frame, i)));
    return types;
}

/* Hand a hot code object to the Python side. Returns -1 only when the
 * callback was interrupted by something the program must see
 * (KeyboardInterrupt and other non-Exception BaseExceptions). */
static int report_hot(PyCodeObject *co, RsCodeInfo *info, _PyInterpreterFrame *frame) {
    info->state = RS_QUEUED;
    if (hot_callback == NULL) return 0;
    PyObject *types = argument_types(frame);
    if (types == NULL) return -1;
    paused++;
    PyObject *r = PyObject_CallFunctionObjArgs(hot_callback, (PyObject *)co, types, NULL);
    paused--;
    Py_DECREF(types);
    int rc = callback_result(r, hot_callback);
    if (rc > 0) info->state = RS_NEVER;      /* a bug on the Python side: leave it alone */
    return rc < 0 ? -1 : 0;
}

/* ---- entering compiled code while the evaluator is off -------------------- */
/* With any evaluator installed, 3.11 stops inlining Python-to-Python calls
 * (design.md, fact 1): uncompiled call-heavy code pays for the hook.  So in
 * "windows" mode the evaluator is on only while restrain looks for hot code
 * (`counting`); the Python side (runtime.py) closes the window once nothing
 * new turns hot and opens it again when something does.
 *
 * Outside a window, compiled code is entered through its function objects:
 * a function whose code is compiled gets the type RsFunctionType, a C
 * subclass of function with the same layout and name.  The interpreter's
 * CALL inlines exact functions only (fact 2), so calls of such a function go
 * to its vectorcall, compiled_vectorcall, which turns the evaluator on for
 * the one frame it creates; restrain_eval turns it off again on entry. */
static PyObject *restrain_eval(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag);
static int windows = 0;            /* 0: the evaluator stays on (no swapping) */
/* The evaluator is off because the C stack ran low in some thread: with it
 * on, every Python call recurses in C (see c_stack_is_low). */
static int stack_suspended = 0;
static int counting = 1;           /* inside a window: every frame is seen */
static Py_ssize_t swaps = 0;       /* function objects given RsFunctionType */
static PyTypeObject RsFunctionType;

/* What interp->eval_frame should be now; leaves another tool's evaluator alone. */
static void settle_eval_frame(PyInterpreterState *interp) {
    if (!installed) return;
    if (interp->eval_frame != NULL && interp->eval_frame != restrain_eval) return;
    interp->eval_frame = (!stack_suspended && (counting || !windows)) ? restrain_eval : NULL;
}

/* The default evaluator for a frame restrain leaves alone; switches the
 * evaluator back on once a deep recursion that suspended it has unwound. */
static PyObject *eval_default(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag) {
    PyObject *result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    if (stack_suspended && !c_stack_is_low()) {
        stack_suspended = 0;
        settle_eval_frame(tstate->interp);
    }
    return result;
}

static void unswap_function(PyFunctionObject *f) {
    Py_SET_TYPE(f, &PyFunction_Type);
    f->vectorcall = _PyFunction_Vectorcall;
}

static PyObject *compiled_vectorcall(PyObject *func, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    PyInterpreterState *interp = _PyInterpreterState_GET();
    RsCodeInfo *info = fast_info((PyCodeObject *)((PyFunctionObject *)func)->func_code);
    if (!installed || !windows || c_stack_is_low() ||
            (info != NULL && (info->state == RS_NEVER || info->compiled_callers_only))) {
        /* restrain was disabled (or left windows mode), the C stack is
         * nearly used up (deep recursion), or the code was left to the
         * interpreter after all (it deoptimised, or is compiled for
         * compiled callers only): a plain function again, which the
         * interpreter calls without C recursion, inlined */
        unswap_function((PyFunctionObject *)func);
        return _PyFunction_Vectorcall(func, args, nargsf, kwnames);
    }
    /* positional arguments only, as many as it takes: straight into the
     * compiled entry, as compiled callers do (call_function); else through
     * _PyEval_Vector and the evaluator, which runs the compiled entry */
    PyThreadState *tstate = _PyThreadState_GET();
    PyCodeObject *co = (PyCodeObject *)((PyFunctionObject *)func)->func_code;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && direct_call_possible(tstate, info, nargs)) {
        return run_frameless_or_direct(tstate, (PyFunctionObject *)func, co, info, args, nargs);
    }
    if (info != NULL && info->frameless_only) return _PyFunction_Vectorcall(func, args, nargsf, kwnames);
    if (interp->eval_frame == NULL) interp->eval_frame = restrain_eval;
    PyObject *result = _PyFunction_Vectorcall(func, args, nargsf, kwnames);
    settle_eval_frame(interp);   /* in case no frame reached restrain_eval */
    return result;
}


/* Give a plain function of compiled code the swapped type; 1 if done. */
static int swap_function(PyFunctionObject *f) {
    if (f == NULL || !windows || Py_TYPE(f) != &PyFunction_Type || f->vectorcall != _PyFunction_Vectorcall)
        return 0;
    if (!is_function_scope(((PyCodeObject *)f->func_code)->co_flags)) return 0;
    Py_SET_TYPE(f, &RsFunctionType);   /* a static type: no reference to take */
    f->vectorcall = compiled_vectorcall;
    swaps++;
    return 1;
}

/* pickle and copy treat functions by name; so do they the swapped ones
 * (a str from __reduce__ means "the global of this name"). */
static PyObject *swapped_reduce(PyObject *self, PyObject *unused) {
    return Py_NewRef(((PyFunctionObject *)self)->func_qualname);
}

static PyMethodDef swapped_methods[] = {
    {"__reduce__", swapped_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int init_function_type(void) {
    RsFunctionType.tp_name = "function";
    RsFunctionType.tp_doc = PyFunction_Type.tp_doc;
    RsFunctionType.tp_basicsize = PyFunction_Type.tp_basicsize;
    RsFunctionType.tp_flags = PyFunction_Type.tp_flags & ~(Py_TPFLAGS_READY | Py_TPFLAGS_VALID_VERSION_TAG);
    RsFunctionType.tp_base = &PyFunction_Type;
    RsFunctionType.tp_vectorcall_offset = PyFunction_Type.tp_vectorcall_offset;
    RsFunctionType.tp_traverse = PyFunction_Type.tp_traverse;
    RsFunctionType.tp_clear = PyFunction_Type.tp_clear;
    RsFunctionType.tp_dealloc = PyFunction_Type.tp_dealloc;
    RsFunctionType.tp_methods = swapped_methods;
    return PyType_Ready(&RsFunctionType);
}

static PyObject *restrain_eval(PyThreadState *tstate, _PyInterpreterFrame *frame, int throwflag) {
    int window_closed = windows && !counting;
    if (window_closed) tstate->interp->eval_frame = NULL;   /* one frame only */
    if (c_stack_is_low()) {
        /* deep recursion: off until it unwinds, so that the interpreter
         * inlines its calls again instead of recursing in C */
        stack_suspended = 1;
        settle_eval_frame(tstate->interp);
        return eval_default(tstate, frame, throwflag);
    }
    PyCodeObject *co = frame->f_code;
    if (throwflag || thread_paused(tstate) || tstate->cframe->use_tracing ||
        frame->owner != FRAME_OWNED_BY_THREAD ||
        frame->prev_instr != _PyCode_CODE(co) - 1) {
        return eval_default(tstate, frame, throwflag);
    }
    RsCodeInfo *info = get_info(co, 1);
    if (info == NULL) return eval_default(tstate, frame, throwflag);
    info->calls++;
    if (info->entry != NULL && !c_stack_is_low()) {
        if (!info->compiled_callers_only)
            swap_function(frame->f_func);   /* the next call needs no evaluator */
        return run_compiled(tstate, frame, info);
    }
    if (window_closed) return eval_default(tstate, frame, throwflag);
    if (prewarm_callback != NULL && info->calls == threshold / 2 + 1) {
        PyObject *cb = prewarm_callback;
        prewarm_callback = NULL;             /* once */
        PyObject *types = argument_types(frame);
        paused++;
        PyObject *r = types ? PyObject_CallFunctionObjArgs(cb, (PyObject *)co, types, NULL) : NULL;
        paused--;
        Py_XDECREF(types);
        Py_DECREF(cb);
        if (r == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
            PyErr_WriteUnraisable(NULL);
        }
        Py_XDECREF(r);
    }
    if (info->state == RS_COUNTING && info->calls >= threshold) {
        if (report_hot(co, info, frame) < 0) return NULL;
        if (info->entry != NULL && !c_stack_is_low()) return run_compiled(tstate, frame, info);
    }
    if (info->has_loop && info->state == RS_COUNTING && !info->long_call_reported && co->co_argcount +
            co->co_kwonlyargcount <= RS_TIMED_ARGS && long_call_callback != NULL) {
        return eval_timed(tstate, frame, throwflag, info);
    }
    return eval_default(tstate, frame, throwflag);
}

/* ---- Python interface (used by restrain/runtime.py) ---------------------- */

/* A callback slot takes a callable, or None to clear it. */
static void set_callback(PyObject **slot, PyObject *callback) {
    if (callback == Py_None) {
        Py_CLEAR(*slot);
    } else {
        Py_INCREF(callback);
        Py_XSETREF(*slot, callback);
    }
}

/* install(callback): callback(code) is called once per hot code object;
 * None installs the evaluator only to run entries compiled explicitly. */
static PyObject *hook_install(PyObject *self, PyObject *callback) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (current != _PyEval_EvalFrameDefault && current != restrain_eval) {
        PyErr_SetString(PyExc_RuntimeError,
                        "another frame evaluator (PEP 523) is installed, e.g. by a debugger "
                        "or another JIT; restrain will not replace it");
        return NULL;
    }
    set_callback(&hot_callback, callback);
    installed = 1;
    counting = 1;
    _PyInterpreterState_SetEvalFrameFunc(interp, restrain_eval);
    Py_RETURN_NONE;
}

static PyObject *hook_uninstall(PyObject *self, PyObject *unused) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (interp->eval_frame == restrain_eval) interp->eval_frame = NULL;
    installed = 0;   /* swapped functions turn back into plain ones when next called */
    Py_RETURN_NONE;
}

static PyObject *hook_is_installed(PyObject *self, PyObject *unused) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction current = interp->eval_frame;
    return PyBool_FromLong(installed && (current == restrain_eval ||
                                         (current == NULL && ((windows && !counting) || stack_suspended))));
}

static PyObject *hook_set_threshold(PyObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    threshold = n < 1 ? 1 : n;
    Py_RETURN_NONE;
}

static int code_arg(PyObject *arg, PyCodeObject **co) {
    if (!PyCode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a code object");
        return 0;
    }
    *co = (PyCodeObject *)arg;
    return 1;
}

/* set_entry(code, capsule[, pure_capsule, signature]): from now on frames
 * of `code` run the compiled entry; its C version (if any) is offered to
 * compiled calls of unknown callables (rs_dynamic_pure) */
static PyObject *hook_set_entry(PyObject *self, PyObject *args) {
    PyCodeObject *co;
    PyObject *capsule, *pure_capsule = Py_None;
    const char *signature = "";
    if (!PyArg_ParseTuple(args, "O&O|Os", code_arg, &co, &capsule, &pure_capsule, &signature)) return NULL;
    void *p = PyCapsule_GetPointer(capsule, "restrain.entry");
    if (p == NULL) return NULL;
    void *pure = NULL;
    if (pure_capsule != Py_None) {
        pure = PyCapsule_GetPointer(pure_capsule, "restrain.pure");
        if (pure == NULL) return NULL;
        if (strlen(signature) >= RS_SIGNATURE_MAX) pure = NULL;
    }
    RsCodeInfo *info = get_info(co, 1);
    if (info == NULL) return PyErr_NoMemory();
    Py_INCREF(capsule);
    Py_XSETREF(info->owner, capsule);
    info->pure = pure;
    if (pure != NULL) strcpy(info->pure_signature, signature);
    drop_frameless(info);         /* the new version's, if any: set_frameless */
    info->entry = (RsEntry)p;
    info->state = RS_COMPILED;
    info->deopts = 0;
    info->nsites = 0;
    Py_RETURN_NONE;
}

/* set_frameless(code, capsule): the compiled version set_entry installed
 * has this frameless version (frameless.py); its module must stay loaded
 * as long as that version's */
static PyObject *hook_set_frameless(PyObject *self, PyObject *args) {
    PyCodeObject *co;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O&O", code_arg, &co, &capsule)) return NULL;
    void *p = PyCapsule_GetPointer(capsule, "restrain.frameless");
    if (p == NULL) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info == NULL || info->entry == NULL) {
        PyErr_SetString(PyExc_ValueError, "set_frameless: the code object has no compiled entry");
        return NULL;
    }
    info->frameless = ((RsFlVersion *)p)->call;
    info->frameless_body = ((RsFlVersion *)p)->body;
    frameless_epoch++;
    info->frameless_hits = 0;
    info->frameless_give_ups = 0;
    Py_RETURN_NONE;
}

/* frameless_state(code) -> (installed, hits, give_ups), for the tests */
static PyObject *hook_frameless_state(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info == NULL) return Py_BuildValue("(Onn)", Py_False, (Py_ssize_t)0, (Py_ssize_t)0);
    return Py_BuildValue("(Onn)", info->frameless != NULL ? Py_True : Py_False, info->frameless_hits,
                         info->frameless_give_ups);
}

/* flag(code, flag) for a char field of the code's info at `offset` */
static PyObject *set_info_flag(PyObject *args, size_t offset) {
    PyCodeObject *co;
    int flag;
    if (!PyArg_ParseTuple(args, "O&p", code_arg, &co, &flag)) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info == NULL) return PyErr_NoMemory();
    ((char *)info)[offset] = (char)flag;
    Py_RETURN_NONE;
}

/* compiled_callers_only(code, flag): see RsCodeInfo.compiled_callers_only */
static PyObject *hook_compiled_callers_only(PyObject *self, PyObject *args) {
    return set_info_flag(args, offsetof(RsCodeInfo, compiled_callers_only));
}

/* frameless_only(code, flag): see RsCodeInfo.frameless_only */
static PyObject *hook_frameless_only(PyObject *self, PyObject *args) {
    return set_info_flag(args, offsetof(RsCodeInfo, frameless_only));
}

/* clear_entry(code): back to the interpreter (and not queued again) */
static PyObject *hook_clear_entry(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info != NULL) {
        info->entry = NULL;
        info->pure = NULL;
        drop_frameless(info);
        info->state = RS_NEVER;
        Py_CLEAR(info->owner);
    }
    Py_RETURN_NONE;
}

/* mark_never(code): leave this code object to the interpreter for good */
static PyObject *hook_mark_never(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info != NULL && info->entry == NULL) info->state = RS_NEVER;
    Py_RETURN_NONE;
}

/* mark_queued(code): compiled explicitly (restrain.compile): don't report it */
static PyObject *hook_mark_queued(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 1);
    if (info != NULL && info->state == RS_COUNTING) info->state = RS_QUEUED;
    Py_RETURN_NONE;
}

/* info(code) -> (calls, state name) */
static PyObject *hook_info(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    static const char *names[] = {"counting", "queued", "compiled", "never"};
    if (info == NULL) return Py_BuildValue("(ns)", (Py_ssize_t)0, "counting");
    return Py_BuildValue("(ns)", info->calls, names[info->state]);
}

/* call_time(code) -> (timed calls, their nanoseconds together): the calls
 * of a function with a loop timed while counting (eval_timed) */
static PyObject *hook_call_time(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info == NULL) return Py_BuildValue("(nL)", (Py_ssize_t)0, (long long)0);
    return Py_BuildValue("(nL)", info->timed_calls, (long long)info->timed_ns);
}

static PyObject *hook_set_prewarm(PyObject *self, PyObject *callback) {
    set_callback(&prewarm_callback, callback);
    Py_RETURN_NONE;
}

/* set_fingerprint(callable or None): see fingerprint_callback */
static PyObject *hook_set_fingerprint(PyObject *self, PyObject *callback) {
    set_callback(&fingerprint_callback, callback);
    Py_RETURN_NONE;
}

/* set_leaf(callable or None): see leaf_callback */
static PyObject *hook_set_leaf(PyObject *self, PyObject *callback) {
    set_callback(&leaf_callback, callback);
    Py_RETURN_NONE;
}

static PyObject *hook_set_long_call(PyObject *self, PyObject *callback) {
    set_callback(&long_call_callback, callback);
    Py_RETURN_NONE;
}

/* set_deopt(callable, limit): callable(code, sites) after `limit`
 * deoptimisations of one compiled version */
static PyObject *hook_set_deopt(PyObject *self, PyObject *args) {
    PyObject *callback;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "On", &callback, &limit)) return NULL;
    set_callback(&deopt_callback, callback);
    deopt_limit = limit < 1 ? 1 : limit;
    Py_RETURN_NONE;
}

/* deopts(code) -> (deoptimisations of the current version, sites) */
static PyObject *hook_deopts(PyObject *self, PyObject *arg) {
    PyCodeObject *co;
    if (!code_arg(arg, &co)) return NULL;
    RsCodeInfo *info = get_info(co, 0);
    if (info == NULL) return Py_BuildValue("(n())", (Py_ssize_t)0);
    PyObject *sites = sites_tuple(info);
    if (sites == NULL) return NULL;
    return Py_BuildValue("(nN)", info->deopts, sites);
}

/* set_windows(on): whether the evaluator may be switched off between
 * windows (compiled functions then get RsFunctionType); off: always on. */
static PyObject *hook_set_windows(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    windows = on;
    counting = 1;
    settle_eval_frame(_PyInterpreterState_GET());
    Py_RETURN_NONE;
}

/* set_counting(on): open or close the window in which every frame is seen */
static PyObject *hook_set_counting(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    counting = on;
    settle_eval_frame(_PyInterpreterState_GET());
    Py_RETURN_NONE;
}

/* window() -> (windows mode, counting, function objects swapped so far) */
static PyObject *hook_window(PyObject *self, PyObject *unused) {
    return Py_BuildValue("(iin)", windows, counting, swaps);
}

/* in_main_interpreter(): restrain runs in the main interpreter only (its
 * state here is per process; a subinterpreter must not install it, nor
 * start threads that would outlive Py_EndInterpreter) */
static PyObject *hook_in_main_interpreter(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(PyInterpreterState_Get() == PyInterpreterState_Main());
}

/* use_frameless(flag) -> the previous setting */
static PyObject *hook_use_frameless(PyObject *self, PyObject *arg) {
    int flag = PyObject_IsTrue(arg);
    if (flag < 0) return NULL;
    int previous = frameless_on;
    frameless_on = flag;
    frameless_epoch++;
    return PyBool_FromLong(previous);
}

/* nested_frameless_calls() -> calls frameless versions made of others */
static PyObject *hook_nested_frameless_calls(PyObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(nested_frameless_calls);
}

/* frameless_calls() -> calls a frameless version answered */
static PyObject *hook_frameless_calls(PyObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(frameless_calls);
}

/* direct_calls() -> calls compiled code made straight into compiled code */
static PyObject *hook_direct_calls(PyObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(direct_calls);
}

/* argument_types(frame): the types of a frame's arguments, read from its
 * local slots.  frame.f_locals would do it from Python, but for a running
 * function it makes a dict of all its locals that the frame keeps until it
 * returns: a sampled test function then held the objects it had deleted
 * (CPython's test_weakref failed). */
static PyObject *hook_argument_types(PyObject *self, PyObject *arg) {
    if (!PyFrame_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a frame");
        return NULL;
    }
    return argument_types(((PyFrameObject *)arg)->f_frame);
}

/* ---- stack samples ------------------------------------------------------
 * sample_stacks(depth) -> [(codes, top), ...]: for every thread but the
 * calling one that runs Python code, `codes` holds the code objects of its
 * frames, innermost first, and `top` (code, f_lasti, argument types) for
 * its innermost `depth` frames (argument types None past RS_SAMPLED_ARGS).
 * Frames are skipped as sys._current_frames() and f_back skip them (not
 * started yet).  A frame of compiled code made while the window was closed
 * gets its function swapped on the way, as a call through the evaluator
 * would have it.
 *
 * The sampler (runtime.py) used sys._current_frames(): a frame object it
 * held while the function returned took over the function's locals, and
 * the objects the program had just deleted lived on until the sampler let
 * go.  Here no frame object is made.  The threads are walked under the
 * runtime's thread-list lock (as _PyThread_CurrentFrames does) into C
 * memory only, taking references and allocating no Python object (which
 * could run a collection, and finalizers, under that lock); the result is
 * built after it. */
#define RS_SAMPLED_ARGS 16

typedef struct {
    PyObject *code;               /* strong */
    int thread;                   /* index of the thread, in the order met */
    int lasti;                    /* bytes, as frame.f_lasti */
    int ntypes;                   /* -1: not in `top`; -2: too many arguments */
    PyObject **types;             /* strong, ntypes of them: for `top` only (a deep
                                   * recursion has thousands of frames) */
} RsSampledFrame;

static PyObject *sampled_top_entry(RsSampledFrame *e) {
    PyObject *types;
    if (e->ntypes == -2) {
        types = Py_NewRef(Py_None);
    } else {
        types = PyTuple_New(e->ntypes);
        if (types == NULL) return NULL;
        for (int i = 0; i < e->ntypes; i++) PyTuple_SET_ITEM(types, i, Py_NewRef(e->types[i]));
    }
    return Py_BuildValue("(OiN)", e->code, e->lasti, types);
}

/* The samples of one thread (entries[first:end]) as (codes, top). */
static PyObject *sampled_thread(RsSampledFrame *entries, Py_ssize_t first, Py_ssize_t end, int depth) {
    PyObject *codes = PyTuple_New(end - first);
    Py_ssize_t ntop = end - first < depth ? end - first : depth;
    PyObject *top = PyTuple_New(ntop);
    if (codes == NULL || top == NULL) goto error;
    for (Py_ssize_t k = first; k < end; k++) {
        PyTuple_SET_ITEM(codes, k - first, Py_NewRef(entries[k].code));
        if (k - first < ntop) {
            PyObject *entry = sampled_top_entry(&entries[k]);
            if (entry == NULL) goto error;
            PyTuple_SET_ITEM(top, k - first, entry);
        }
    }
    return Py_BuildValue("(NN)", codes, top);
error:
    Py_XDECREF(codes);
    Py_XDECREF(top);
    return NULL;
}

static void release_samples(RsSampledFrame *entries, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_DECREF(entries[k].code);
        for (int i = 0; i < entries[k].ntypes; i++) Py_DECREF(entries[k].types[i]);
        PyMem_RawFree(entries[k].types);
    }
    PyMem_RawFree(entries);
}

static PyObject *hook_sample_stacks(PyObject *self, PyObject *arg) {
    int depth = PyLong_AsLong(arg);
    if (depth < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "depth must be >= 0");
        return NULL;
    }
    PyThreadState *me = _PyThreadState_GET();
    Py_ssize_t n = 0, capacity = 64;
    int threads = 0, failed = 0;
    RsSampledFrame *entries = PyMem_RawMalloc(capacity * sizeof(RsSampledFrame));
    if (entries == NULL) return PyErr_NoMemory();
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
    for (PyThreadState *t = me->interp->threads.head; t != NULL && !failed; t = t->next) {
        if (t == me || t->cframe == NULL) continue;
        int position = 0;
        for (_PyInterpreterFrame *frame = t->cframe->current_frame; frame != NULL; frame = frame->previous) {
            if (_PyFrame_IsIncomplete(frame)) continue;
            if (n == capacity) {
                RsSampledFrame *more = PyMem_RawRealloc(entries, 2 * capacity * sizeof(RsSampledFrame));
                if (more == NULL) { failed = 1; break; }
                entries = more;
                capacity *= 2;
            }
            RsSampledFrame *e = &entries[n++];
            PyCodeObject *co = frame->f_code;
            e->code = Py_NewRef((PyObject *)co);
            e->thread = threads;
            e->lasti = _PyInterpreterFrame_LASTI(frame) * (int)sizeof(_Py_CODEUNIT);
            e->ntypes = -1;
            e->types = NULL;
            if (position++ < depth) {
                int nargs = co->co_argcount + co->co_kwonlyargcount;
                if (nargs <= RS_SAMPLED_ARGS) e->types = PyMem_RawMalloc((nargs + 1) * sizeof(PyObject *));
                if (e->types == NULL) {
                    e->ntypes = -2;      /* no guesses: too many arguments (or no memory) */
                } else {
                    for (int i = 0; i < nargs; i++) e->types[i] = Py_NewRef(argument_type(frame, i));
                    e->ntypes = nargs;
                }
                RsCodeInfo *info = fast_info(co);
                if (info != NULL && info->entry != NULL) swap_function((PyFunctionObject *)frame->f_func);
            }
        }
        if (position > 0) threads++;
    }
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
    PyObject *result = failed ? PyErr_NoMemory() : PyList_New(0);
    Py_ssize_t first = 0;
    while (result != NULL && first < n) {
        Py_ssize_t end = first;
        while (end < n && entries[end].thread == entries[first].thread) end++;
        PyObject *sample = sampled_thread(entries, first, end, depth);
        if (sample == NULL || PyList_Append(result, sample) < 0) Py_CLEAR(result);
        Py_XDECREF(sample);
        first = end;
    }
    release_samples(entries, n);
    return result;
}

/* ---- running a callable on the main thread ------------------------------
 * The sampler finds hot functions from a thread of its own, where every
 * system call (a cache lookup makes several) gives up the GIL and waits up
 * to the switch interval (5 ms) for the program's main thread to hand it
 * back: loading a cached function took 50-70 ms there.  The main thread
 * does the same in about a millisecond, between two of its instructions,
 * the way it runs signal handlers (Py_AddPendingCall).  An Exception from
 * the callable is dropped (it logs its own); anything else (KeyboardInterrupt
 * from a signal handler that ran meanwhile) goes on to the program. */
#define RS_PENDING_HEADROOM 200     /* frames restrain's own Python code may need */

static int run_pending_call(void *arg) {
    PyObject *callable = (PyObject *)arg;
    if (PyThreadState_Get()->recursion_remaining < RS_PENDING_HEADROOM) {
        /* the program is deep in a recursion: restrain's code could hit the
         * limit there; the sampler's thread takes the call up instead */
        Py_DECREF(callable);
        return 0;
    }
    paused++;
    PyObject *r = PyObject_CallNoArgs(callable);
    paused--;
    Py_DECREF(callable);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
    PyErr_Clear();     /* the callable logs its own errors; nothing reaches the program */
    return 0;
}

/* call_on_main_thread(callable) -> False if it could not be queued */
static PyObject *hook_call_on_main_thread(PyObject *self, PyObject *callable) {
    Py_INCREF(callable);
    if (Py_AddPendingCall(run_pending_call, callable) != 0) {
        Py_DECREF(callable);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *hook_pause_thread(PyObject *self, PyObject *unused) {
    paused++;
    Py_RETURN_NONE;
}

static PyObject *hook_resume_thread(PyObject *self, PyObject *unused) {
    if (paused > 0) paused--;
    Py_RETURN_NONE;
}

static PyMethodDef hook_methods[] = {
    {"install", hook_install, METH_O, "install(callback): install the evaluator; callback(code) is called once per hot code object"},
    {"uninstall", hook_uninstall, METH_NOARGS, "put back the default evaluator"},
    {"is_installed", hook_is_installed, METH_NOARGS, "whether restrain's evaluator is active"},
    {"set_threshold", hook_set_threshold, METH_O, "calls before a code object counts as hot"},
    {"set_entry", hook_set_entry, METH_VARARGS,
     "set_entry(code, capsule[, pure_capsule, signature]): run compiled code for this code object"},
    {"frameless_only", hook_frameless_only, METH_VARARGS,
     "frameless_only(code, flag): a call that cannot run its frameless version runs as a plain function's"},
    {"compiled_callers_only", hook_compiled_callers_only, METH_VARARGS,
     "compiled_callers_only(code, flag): interpreted callers keep calling the function inlined"},
    {"clear_entry", hook_clear_entry, METH_O, "drop a code object's compiled entry"},
    {"mark_never", hook_mark_never, METH_O, "never queue this code object"},
    {"mark_queued", hook_mark_queued, METH_O, "do not report this code object as hot"},
    {"info", hook_info, METH_O, "info(code) -> (calls, state)"},
    {"call_time", hook_call_time, METH_O, "call_time(code) -> (timed calls, their nanoseconds): calls of a function with a loop timed while counting"},
    {"set_prewarm", hook_set_prewarm, METH_O, "set_prewarm(callable): callable(code) is called once, when a first code object is halfway to hot"},
    {"set_fingerprint", hook_set_fingerprint, METH_O, "set_fingerprint(callable): callable(code) -> the code object's content digest"},
    {"set_leaf", hook_set_leaf, METH_O, "set_leaf(callable): callable(code) when compiled code has called an uncompiled function threshold times"},
    {"set_long_call", hook_set_long_call, METH_O, "set_long_call(callable): callable(code, types) once a call of a function with a loop ran long while counting (again at the next such call if it returns False)"},
    {"set_deopt", hook_set_deopt, METH_VARARGS, "set_deopt(callable, limit): callable(code, sites) once a compiled version deoptimised limit times"},
    {"deopts", hook_deopts, METH_O, "deopts(code) -> (count, sites) for the current compiled version"},
    {"set_windows", hook_set_windows, METH_O, "set_windows(on): let the evaluator be off between windows of counting"},
    {"set_counting", hook_set_counting, METH_O, "set_counting(on): open or close a window of counting"},
    {"window", hook_window, METH_NOARGS, "window() -> (windows mode, counting, swapped function objects)"},
    {"in_main_interpreter", hook_in_main_interpreter, METH_NOARGS, "whether this is the main interpreter (the only one restrain runs in)"},
    {"set_frameless", hook_set_frameless, METH_VARARGS,
     "set_frameless(code, capsule): the compiled version's frameless version, tried first by compiled callers"},
    {"frameless_state", hook_frameless_state, METH_O, "frameless_state(code) -> (installed, hits, give_ups)"},
    {"use_frameless", hook_use_frameless, METH_O,
     "use_frameless(flag) -> previous: whether calls try frameless versions (tests, measurements)"},
    {"frameless_calls", hook_frameless_calls, METH_NOARGS, "frameless_calls() -> calls a frameless version answered"},
    {"nested_frameless_calls", hook_nested_frameless_calls, METH_NOARGS,
     "nested_frameless_calls() -> calls frameless versions made of others"},
    {"direct_calls", hook_direct_calls, METH_NOARGS, "direct_calls() -> how many calls went straight from compiled to compiled code"},
    {"argument_types", hook_argument_types, METH_O, "argument_types(frame): the types of its arguments, without f_locals"},
    {"sample_stacks", hook_sample_stacks, METH_O, "sample_stacks(depth): [(codes, top)] of the other threads, no frame objects"},
    {"call_on_main_thread", hook_call_on_main_thread, METH_O, "call_on_main_thread(callable): call it on the main thread soon, as a signal handler; False if it cannot be queued"},
    {"pause_thread", hook_pause_thread, METH_NOARGS, "stop counting and compiling frames of this thread"},
    {"resume_thread", hook_resume_thread, METH_NOARGS, "undo pause_thread"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hook_module = {
    PyModuleDef_HEAD_INIT, "restrain._hook", "restrain's PEP 523 frame evaluator", -1, hook_methods,
};

PyMODINIT_FUNC PyInit__hook(void) {
    if (extra_index < 0) {
        extra_index = _PyEval_RequestCodeExtraIndex(free_info);
        if (extra_index < 0) {
            PyErr_SetString(PyExc_RuntimeError, "no free co_extra slot for restrain");
            return NULL;
        }
    }
    if (init_function_type() < 0) return NULL;
    hook_api.swapped_type = &RsFunctionType;
    PyObject *m = PyModule_Create(&hook_module);
    if (m == NULL) return NULL;
    PyObject *api = PyCapsule_New(&hook_api, "restrain._hook._api", NULL);
    if (api == NULL || PyModule_AddObject(m, "_api", api) < 0) {
        Py_XDECREF(api);
        Py_DECREF(m);
        return NULL;
    }
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "ABI_VERSION", RS_API_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
