package io.shardwise.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * AdamW (Loshchilov &amp; Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2): Adam moments
 * with bias correction, and weight decay applied to the weights directly, here to matrices only.
 * Pruned weights (masked in {@link DjlLlama}) get zero gradients, so their moments and updates stay zero.
 */
public final class AdamW implements AutoCloseable {
    private final DjlLlama model;
    private final NDManager states;
    private final List<String> names = new ArrayList<>();
    private final List<NDArray> m = new ArrayList<>(), v = new ArrayList<>();
    private final float beta1, beta2, eps, weightDecay;
    private int t;

    public AdamW(DjlLlama model, double beta1, double beta2, double eps, double weightDecay) {
        this.model = model;
        this.states = model.manager().newSubManager();
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
        this.weightDecay = (float) weightDecay;
        for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
            names.add(e.getKey());
            m.add(states.zeros(e.getValue().getShape()));
            v.add(states.zeros(e.getValue().getShape()));
        }
    }

    /** One update from the gradients of the last backward pass; then clears them and re-applies the zero masks. */
    public void step(double lr) {
        t++;
        model.maskGradients();
        float bc1 = (float) (1 - Math.pow(beta1, t)), bc2 = (float) (1 - Math.pow(beta2, t));
        Map<String, NDArray> params = model.parameters();
        try (NDManager s = states.newSubManager()) {
            for (int i = 0; i < names.size(); i++) {
                NDArray p = params.get(names.get(i)), mi = m.get(i), vi = v.get(i);
                // temporaries go to the manager of an op's first operand: lend everything to this step's manager
                p.tempAttach(s);
                mi.tempAttach(s);
                vi.tempAttach(s);
                NDArray g = p.getGradient();
                mi.muli(beta1).addi(g.mul(1 - beta1));
                vi.muli(beta2).addi(g.square().muli(1 - beta2));
                NDArray update = mi.div(bc1).divi(vi.div(bc2).sqrt().addi(eps));
                if (weightDecay != 0f && p.getShape().dimension() > 1) p.muli(1 - (float) lr * weightDecay);
                p.subi(update.muli((float) lr));
            }
        }
        model.zeroGradients();
        model.applyMasks();
    }

    public int steps() {
        return t;
    }

    @Override
    public void close() {
        states.close();
    }
}
