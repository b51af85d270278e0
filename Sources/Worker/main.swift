import JobService

WorkerCommand.main()
