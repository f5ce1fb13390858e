// Program is top-level code, hence internal; the integration tests reach it through WebApplicationFactory<Program>.
public partial class Program;
