# Build from the solution; run on the ASP.NET runtime image as its non-root "app" user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/FetchApi/FetchApi.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_HTTP_PORTS=8080 \
    ASPNETCORE_ENVIRONMENT=Production \
    Storage__ConnectionString="Data Source=/data/fetchapi.db"
# The SQLite file (and its WAL) lives in a volume, so batches outlive the container.
RUN mkdir -p /data && chown app:app /data
VOLUME /data
USER app
EXPOSE 8080
# The runtime image has no curl or wget: the service probes itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["dotnet", "FetchApi.dll", "--healthcheck"]
ENTRYPOINT ["dotnet", "FetchApi.dll"]
