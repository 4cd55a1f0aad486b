// The bare memory pattern of a tiled transpose walk, without the transpose: how fast can the
// memory system take the loads and streaming stores a walk of this shape makes? (docs/performance.md,
// eighth session: the 1-byte walk's pattern alone runs 0.50-0.73 of the 4-byte walk's.)
//
// A step copies H source rows by W bytes into an L1 stage, then streams W / E destination rows by
// H * E bytes from it. Tiles of T x T elements; work items continue the source's rows; 2 threads by
// default. Prints the walk's GB/s (bytes read plus written), memcpy's on the same buffers (one
// memcpy per thread), and their ratio; medians of 9 runs. With -mavx512f each line moves as one
// 64-byte load and store, else (AVX2 machines such as the AMD EPYC Zen 3 VM) as two 32-byte ones.
//
//   clang -O2 -mavx512f -mavx512bw -DE=4 -DH=32 -DW=64 Benchmarks/walk-pattern.c -o /tmp/wp4 -lpthread
//   clang -O2 -mavx2 -DE=1 -DH=256 -DW=64 Benchmarks/walk-pattern.c -o /tmp/wp1 -lpthread
//   /tmp/wp4 4096 4096 512 && /tmp/wp1 8192 8192 1024     # ROWS COLUMNS TILE [THREADS], 64 MB each
//
// W must be a multiple of 64 and H * E of 64 (whole lines on both sides). -DSKEW=4 puts the source
// rows SKEW bytes further apart, so that they start inside lines (f4 7263x7265's source rows).
// -DFETCH=1 fetches the next step's source lines into L2 a few at a time between the stores, as the
// kernels do. -DSEQUENTIAL=1 keeps the step's shape (H x W bytes staged, W / E lines streamed) but
// reads and writes each step's bytes as one contiguous stretch: what the step size costs without
// the scatter of a transpose (docs/performance.md, twenty-first session). -DSEQUENTIAL_READS=1 or
// -DSEQUENTIAL_WRITES=1 does so for one side only, so that the other side's scatter is what a run
// measures (thirty-sixth session: for f4 steps of 32 rows, two lines into each destination row,
// the scattered writes alone cost as much as both; for 64-row steps the reads bound it).
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#ifndef E
#define E 4
#endif
#ifndef H
#define H 32
#endif
#ifndef W
#define W 64
#endif
#ifndef SKEW
#define SKEW 0
#endif
#ifndef FETCH
#define FETCH 0
#endif
#ifndef SEQUENTIAL
#define SEQUENTIAL 0
#endif
#ifndef SEQUENTIAL_READS
#define SEQUENTIAL_READS SEQUENTIAL
#endif
#ifndef SEQUENTIAL_WRITES
#define SEQUENTIAL_WRITES SEQUENTIAL
#endif
// One line from s to d: into the stage (ordinary stores, s maybe unaligned) or streamed out of it.
static inline void stage_line(char*d,const char*s){
#if defined(__AVX512F__)
  _mm512_store_si512(d,_mm512_loadu_si512(s));
#else
  _mm256_store_si256((__m256i*)d,_mm256_loadu_si256((const __m256i*)s)); _mm256_store_si256((__m256i*)(d+32),_mm256_loadu_si256((const __m256i*)(s+32)));
#endif
}
static inline void stream_line(char*d,const char*s){
#if defined(__AVX512F__)
  _mm512_stream_si512((void*)d,_mm512_load_si512(s));
#else
  _mm256_stream_si256((__m256i*)d,_mm256_load_si256((const __m256i*)s)); _mm256_stream_si256((__m256i*)(d+32),_mm256_load_si256((const __m256i*)(s+32)));
#endif
}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static long R,C,T,TH; static char *src,*dst; static atomic_long next;
// Where step (a, c) reads row r and writes destination row d: as the walk lies, or (SEQUENTIAL) the
// step's own contiguous stretch of H * W bytes.
static const char*step_row(long a,long c,long r,long srow){
  return SEQUENTIAL_READS ? src+((a/H)*(C*E/W)+c/W)*H*W+r*W : src+(a+r)*srow+c; }
static char*step_line(long a,long c,long d,long drow){
  return SEQUENTIAL_WRITES ? dst+((a/H)*(C*E/W)+c/W)*H*W+d*H*E : dst+(c/E+d)*drow+a*E; }
static void tile(long ta,long tb){
  _Alignas(64) char st[H*W];
  const long srow=C*E+SKEW, drow=R*E;
  for(long a=ta;a<ta+T;a+=H) for(long c=tb*E;c<(tb+T)*E;c+=W){
#pragma clang loop unroll_count(4)
    for(long r=0;r<H;r++){ const char*s=step_row(a,c,r,srow);
#pragma clang loop unroll(full)
      for(int q=0;q<W;q+=64) stage_line(st+r*W+q,s+q); }
    long na=a, nc=c+W; if(nc>=(tb+T)*E){na+=H;nc=tb*E;}
    const int fetch=FETCH && na<ta+T;
    const char*p=st;
    for(long d=0;d<W/E;d++){ char*line=step_line(a,c,d,drow);
      if(fetch){ const long n=H*W/64, l0=d*n/(W/E), l1=(d+1)*n/(W/E);
        for(long l=l0;l<l1;l++) _mm_prefetch(step_row(na,nc,l/(W/64),srow)+(l%(W/64))*64,_MM_HINT_T1); }
#pragma clang loop unroll(full)
      for(int l=0;l<H*E/64;l++,p+=64) stream_line(line+64*l,p); }
  }
}
static void* work(void*x){ long nta=R/T, ntb=C/T; for(;;){ long i=atomic_fetch_add(&next,1); if(i>=nta*ntb) break; tile((i/ntb)*T,(i%ntb)*T);} _mm_sfence(); return 0;}
typedef struct{char*d;const char*s;size_t n;}M; static void* mc(void*x){M*m=x; memcpy(m->d,m->s,m->n); return 0;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  R=atol(argv[1]);C=atol(argv[2]);T=atol(argv[3]);TH=argc>4?atol(argv[4]):2;
  size_t bytes=R*C*E, al=(bytes+R*SKEW+(1<<21))&~((size_t)(1<<21)-1);
  src=aligned_alloc(1<<21,al); dst=aligned_alloc(1<<21,al); madvise(src,al,MADV_HUGEPAGE); madvise(dst,al,MADV_HUGEPAGE); memset(src,1,bytes+R*SKEW); memset(dst,0,bytes);
  double tb[9],tm[9]; pthread_t th[16];
  for(int rep=0;rep<9;rep++){
    next=0; double t0=now(); for(int i=0;i<TH;i++) pthread_create(&th[i],0,work,0); for(int i=0;i<TH;i++) pthread_join(th[i],0); tb[rep]=now()-t0;
    M m[16]; t0=now(); for(int i=0;i<TH;i++){m[i].d=dst+bytes/TH*i;m[i].s=src+bytes/TH*i;m[i].n=bytes/TH; pthread_create(&th[i],0,mc,&m[i]);} for(int i=0;i<TH;i++) pthread_join(th[i],0); tm[rep]=now()-t0;
  }
  qsort(tb,9,8,cmp); qsort(tm,9,8,cmp);
  printf("E=%d H=%d W=%d SKEW=%d FETCH=%d SEQUENTIAL reads %d writes %d (%d dst rows x %d B) %ldx%ld T=%ld: walk %.1f GB/s, memcpy %.1f, ratio %.2f\n",E,H,W,SKEW,FETCH,SEQUENTIAL_READS,SEQUENTIAL_WRITES,W/E,H*E,R,C,T,2*bytes/tb[4]/1e9,2*bytes/tm[4]/1e9,tm[4]/tb[4]);
}
