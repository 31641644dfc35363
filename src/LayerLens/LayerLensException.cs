namespace LayerLens;

/// <summary>What went wrong, in the terms of the command line's exit codes.</summary>
public enum ErrorKind
{
    /// <summary>The call itself was wrong (a bad option or argument): exit code 1.</summary>
    Usage = 1,
    /// <summary>A file, model or value given to LayerLens is unusable: exit code 2.</summary>
    BadInput = 2,
    /// <summary>LayerLens or its native runtime failed: exit code 3.</summary>
    Internal = 3,
}

/// <summary>
/// An error meant for a person: its message is one line that names the file, layer or value at fault.
/// </summary>
public class LayerLensException : Exception
{
    public LayerLensException(string message, ErrorKind kind = ErrorKind.BadInput, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    public ErrorKind Kind { get; }
}
