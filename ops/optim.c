/* optim.c — rules of AdamW, the in-place optimizer update over one (flat) parameter block:
 * attribute ranges and the shapes of param, grad, moments and the scalar inputs. */
#include "attr_check.h"
#include "ops.h"

lmg_status lmg_infer_ADAMW(const lmg_graph *g, const lmg_node *n, lmg_dtype *t, lmg_shape *s)
{
    double b1, b2, eps, wd;
    LMG_TRY(lmg_op_check_attrs(n, "beta1:f beta2:f eps:f weight_decay:f"));
    LMG_TRY(attr_get_float(n, "beta1", 0, 0.9, &b1));
    LMG_TRY(attr_get_float(n, "beta2", 0, 0.999, &b2));
    LMG_TRY(attr_get_float(n, "eps", 0, 1e-8, &eps));
    LMG_TRY(attr_get_float(n, "weight_decay", 0, 0.0, &wd));
    if (b1 < 0.0 || b1 >= 1.0) return lmg_op_error(n, "beta1 = %g is outside [0, 1)", b1);
    if (b2 < 0.0 || b2 >= 1.0) return lmg_op_error(n, "beta2 = %g is outside [0, 1)", b2);
    if (eps < 0.0 || isinf(eps)) return lmg_op_error(n, "eps = %g must be finite and >= 0", eps);
    if (isinf(wd)) return lmg_op_error(n, "weight_decay is infinite");
    static const char *const what[4] = {"param", "grad", "m", "v"};
    for (int k = 0; k < 4; k++) LMG_TRY(want_dtype(g, n, k, LMG_DTYPE_F32, what[k]));
    const lmg_shape *p = &in_val(g, n, 0)->shape;
    for (int k = 1; k < 4; k++) LMG_TRY(want_shape(g, n, k, p, what[k]));
    LMG_TRY(want_scalar(g, n, 4, LMG_DTYPE_F32, "lr"));
    LMG_TRY(want_scalar(g, n, 5, LMG_DTYPE_I32, "step"));
    LMG_TRY(want_scalar(g, n, 6, LMG_DTYPE_F32, "gscale"));
    for (int k = 0; k < 3; k++) {
        t[k] = LMG_DTYPE_F32;
        s[k] = *p;
    }
    return LMG_OK;
}
