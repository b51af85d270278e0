/// The depth of the step pipeline, in one place. The coordinator plans `lookahead` steps beyond the last commit (one
/// computing, the rest loading). It commits a step as soon as every rank's reduced chunk is in, which can be before a
/// slow rank has applied it, so a worker may hold one more plan than that: `slots` sizes the worker's loader queue and
/// submit window and the coordinator's step assemblies.
public enum Pipeline {
    public static let lookahead = 2
    public static let slots = lookahead + 1
}
