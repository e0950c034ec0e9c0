// ThreadSanitizer builds only (GALE_TSAN). librdkafka creates its threads and locks its mutexes
// through C11 <threads.h> (thrd_create, mtx_lock, cnd_wait), which clang 14's TSan runtime does
// not intercept: a thread it never saw start crashes inside the runtime at its first
// instrumented call, and locks it cannot see would report false races on Gale's callbacks.
// Defined in the test executable, these take precedence over glibc's for librdkafka and route
// each call through the pthread function glibc itself implements it with, which TSan does
// intercept. glibc's thrd_t, mtx_t and cnd_t are pthread_t, pthread_mutex_t and pthread_cond_t.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

static int FromErrno(int rc) {
  switch (rc) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

struct Start {
  thrd_start_t func;
  void* arg;
};

static void* RunStart(void* p) {
  struct Start start = *(struct Start*)p;
  free(p);
  return (void*)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct Start* start = malloc(sizeof *start);
  if (start == NULL) return thrd_nomem;
  start->func = func;
  start->arg = arg;
  int rc = pthread_create((pthread_t*)thr, NULL, RunStart, start);
  if (rc != 0) free(start);
  return FromErrno(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* value = NULL;
  int rc = pthread_join((pthread_t)thr, &value);
  if (rc == 0 && res != NULL) *res = (int)(intptr_t)value;
  return FromErrno(rc);
}

int thrd_detach(thrd_t thr) {
  return FromErrno(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int rc = pthread_mutex_init((pthread_mutex_t*)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return FromErrno(rc);
}

int mtx_lock(mtx_t* m) {
  return FromErrno(pthread_mutex_lock((pthread_mutex_t*)m));
}
int mtx_trylock(mtx_t* m) {
  return FromErrno(pthread_mutex_trylock((pthread_mutex_t*)m));
}
int mtx_unlock(mtx_t* m) {
  return FromErrno(pthread_mutex_unlock((pthread_mutex_t*)m));
}
void mtx_destroy(mtx_t* m) {
  pthread_mutex_destroy((pthread_mutex_t*)m);
}

int cnd_init(cnd_t* c) {
  return FromErrno(pthread_cond_init((pthread_cond_t*)c, NULL));
}
int cnd_signal(cnd_t* c) {
  return FromErrno(pthread_cond_signal((pthread_cond_t*)c));
}
int cnd_broadcast(cnd_t* c) {
  return FromErrno(pthread_cond_broadcast((pthread_cond_t*)c));
}
int cnd_wait(cnd_t* c, mtx_t* m) {
  return FromErrno(pthread_cond_wait((pthread_cond_t*)c, (pthread_mutex_t*)m));
}
int cnd_timedwait(cnd_t* restrict c, mtx_t* restrict m, const struct timespec* restrict ts) {
  return FromErrno(pthread_cond_timedwait((pthread_cond_t*)c, (pthread_mutex_t*)m, ts));
}
void cnd_destroy(cnd_t* c) {
  pthread_cond_destroy((pthread_cond_t*)c);
}
