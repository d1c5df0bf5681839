package io.shardwise.core.recipe;

/** A recipe that cannot be used; {@link #field()} is the path of the field at fault (e.g. {@code stages[1].quantize.method}). */
public final class RecipeException extends Exception {
    private final String field;

    public RecipeException(String field, String problem) {
        super(field + ": " + problem);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
