package io.shardwise.gateway;

import io.grpc.Status;

/** A job refused before anything was queued: the gRPC status code and a message naming the field at fault. */
public final class JobRejected extends Exception {
    private final Status.Code code;

    public JobRejected(Status.Code code, String message) {
        super(message);
        this.code = code;
    }

    public Status.Code code() {
        return code;
    }

    public io.grpc.StatusRuntimeException toStatus() {
        return Status.fromCode(code).withDescription(getMessage()).asRuntimeException();
    }
}
