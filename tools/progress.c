/* progress.c — the progress of lmg train and lmg finetune on stderr: a bar on a terminal,
 * plain lines otherwise, validation lines with every logged loss term, and --profile. */
#include "progress.h"
#include "cli.h"
#include "profile.h"
#include "../backends/opencl/opencl.h"

#include <math.h>
#include <stdio.h>

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

/* --profile: the first step (program builds, first touches) is left out. */
static void profile_step(cli_progress *p, const lmg_train_event *e)
{
    if (!p->prof_from) {
        p->prof_from = e->step;
        p->prof_t0 = e->elapsed_s;
        lmg_opencl_profile_reset();
    } else if (e->step - p->prof_from == p->profile) {
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fflush(stderr);
        cli_profile_report(p->cmd, p->profile, (e->elapsed_s - p->prof_t0) * 1e3 / (double)p->profile,
                           p->trace, 25);
        fflush(stdout);
    }
}

/* "  loss/mlm 2.1234  loss/nce 0.5" for the logged terms, into buf. */
static const char *terms_str(const lmg_train_event *e, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < e->n_terms && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "  %s %.4f", e->term_names[i],
                                e->term_values[i]);
    return buf;
}

void cli_progress_event(const lmg_train_event *e, void *user)
{
    cli_progress *p = user;
    if (p->profile && e->kind == LMG_TRAIN_STEP) profile_step(p, e);
    if (p->quiet) return;
    char eta[32], el[32], terms[512];
    terms_str(e, terms, sizeof terms);
    fmt_time(eta, sizeof eta, e->eta_s);
    fmt_time(el, sizeof el, e->elapsed_s);
    switch (e->kind) {
    case LMG_TRAIN_INFO:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fprintf(stderr, "%s\n", e->message);
        break;
    case LMG_TRAIN_STEP:
        if (p->tty) {
            int width = 24, fill = e->steps > 0 ? (int)(width * e->step / e->steps) : 0;
            char bar[32];
            for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
            bar[width] = 0;
            fprintf(stderr, "\r\033[Kstep %lld/%lld [%s] loss %.4f%s  lr %.2e  %.0f tok/s  ETA %s",
                    (long long)e->step, (long long)e->steps, bar, e->loss, terms, e->lr,
                    e->tokens_per_s, eta);
            p->bar_shown = 1;
        } else if (e->step % p->every == 0 || e->step == 1 || e->step == e->steps) {
            fprintf(stderr, "step %lld/%lld  loss %.4f%s  lr %.2e  %.0f tok/s  elapsed %s  ETA %s\n",
                    (long long)e->step, (long long)e->steps, e->loss, terms, e->lr,
                    e->tokens_per_s, el, eta);
        }
        break;
    case LMG_TRAIN_EVAL:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        if (isfinite(e->val_f1))
            fprintf(stderr, "step %lld  val loss %.4f%s  accuracy %.4f  macro-F1 %.4f  %s\n",
                    (long long)e->step, e->val_loss, terms, e->val_accuracy, e->val_f1,
                    e->improved ? "(best so far, saved)" : "");
        else
            fprintf(stderr, "step %lld  val loss %.4f%s  %s\n", (long long)e->step, e->val_loss,
                    terms, e->improved ? "(best so far, saved)" : "");
        break;
    case LMG_TRAIN_DONE:
        if (p->bar_shown) fputc('\n', stderr), p->bar_shown = 0;
        fprintf(stderr, "%s after step %lld in %s\n", e->message, (long long)e->step, el);
        break;
    }
    fflush(stderr);
}

